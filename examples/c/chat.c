/*
 * chat: an interactive conversation through the model's chat template; the session's KV
 * cache is kept across turns, so each turn only evaluates the new messages.
 *
 *     chat MODEL.gguf [n_tokens [temperature]]
 *
 * One user message per line of stdin; each reply is streamed to stdout and ends with a
 * newline. "> " prompts go to stderr. Defaults: 128 tokens per reply, temperature 0.8
 * (0 is greedy).
 */
#define _POSIX_C_SOURCE 200809L
#include <edge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reply being generated: printed as it comes and kept for the next turn's messages. */
typedef struct {
    char *text;
    size_t len;
    size_t cap;
} reply;

static bool on_piece(const char *piece, size_t len, void *user_data) {
    reply *r = user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->len + len + 1) * 2;
        char *grown = realloc(r->text, cap);
        if (grown == NULL) {
            return false;
        }
        r->text = grown;
        r->cap = cap;
    }
    memcpy(r->text + r->len, piece, len);
    r->len += len;
    r->text[r->len] = '\0';
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL.gguf [n_tokens [temperature]]\n", argv[0]);
        return 2;
    }
    int n_tokens = argc > 2 ? atoi(argv[2]) : 128;
    float temperature = argc > 3 ? (float)atof(argv[3]) : 0.8f;

    edge_model *model = NULL;
    edge_session *session = NULL;
    if (edge_model_load(argv[1], NULL, &model) != EDGE_OK ||
        edge_session_new(model, NULL, &session) != EDGE_OK) {
        fprintf(stderr, "error: %s\n", edge_last_error());
        edge_model_free(model);
        return 1;
    }
    edge_model_free(model); /* the session keeps it */

    edge_sampler_params sampler;
    edge_generate_params params;
    edge_sampler_params_default(&sampler, sizeof sampler);
    edge_generate_params_default(&params, sizeof params);
    sampler.temperature = temperature;
    params.sampler = &sampler;
    params.max_tokens = n_tokens;

    /* Every message so far; the strings are owned here (strdup). */
    edge_chat_message *messages = NULL;
    size_t n_messages = 0;
    int status = 0;
    char *line = NULL;
    size_t line_cap = 0;
    for (;;) {
        fputs("> ", stderr);
        ssize_t n = getline(&line, &line_cap, stdin);
        if (n < 0) {
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        edge_chat_message *grown = realloc(messages, (n_messages + 2) * sizeof *messages);
        if (grown == NULL) {
            status = 1;
            break;
        }
        messages = grown;
        messages[n_messages++] = (edge_chat_message){"user", strdup(line)};

        reply r = {0};
        edge_generate_result result = {.struct_size = sizeof result};
        edge_status s = edge_generate_chat(session, messages, n_messages, &params, on_piece, &r,
                                           &result);
        fputs("\n", stdout);
        fflush(stdout);
        if (s != EDGE_OK) {
            fprintf(stderr, "error: %s\n", edge_last_error());
            free(r.text);
            status = 1;
            break;
        }
        messages[n_messages++] = (edge_chat_message){"assistant", r.text ? r.text : strdup("")};
        if (result.stop_reason == EDGE_STOP_CONTEXT_FULL) {
            fputs("context full: ending the chat\n", stderr);
            break;
        }
    }
    for (size_t i = 0; i < n_messages; i++) {
        free((char *)messages[i].content);
    }
    free(messages);
    free(line);
    edge_session_free(session);
    return status;
}
