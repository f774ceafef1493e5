/*
 * generate: greedy text from a prompt, streamed to stdout.
 *
 *     generate MODEL.gguf "prompt" [n_tokens]
 *
 * Build against the shared library:  cc generate.c -Iinclude -Ltarget/release -ledge
 * or the static one:  cc generate.c -Iinclude target/release/libedge.a -lpthread -ldl -lm
 */
#include <edge.h>
#include <stdio.h>
#include <stdlib.h>

static bool print_piece(const char *piece, size_t len, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, edge_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL.gguf \"prompt\" [n_tokens]\n", argv[0]);
        return 2;
    }
    int n_tokens = 32;
    if (argc == 4) {
        char *end = NULL;
        long n = strtol(argv[3], &end, 10);
        if (*argv[3] == '\0' || *end != '\0' || n < 0 || n > 1000000) {
            fprintf(stderr, "error: n_tokens %s is not a count\n", argv[3]);
            return 2;
        }
        n_tokens = (int)n;
    }

    edge_model *model = NULL;
    if (edge_model_load(argv[1], NULL, &model) != EDGE_OK) {
        return fail("load");
    }
    edge_session *session = NULL;
    if (edge_session_new(model, NULL, &session) != EDGE_OK) {
        edge_model_free(model);
        return fail("session");
    }
    /* The session keeps the model alive. */
    edge_model_free(model);

    edge_sampler_params sampler;
    edge_generate_params params;
    edge_sampler_params_default(&sampler, sizeof sampler);
    edge_generate_params_default(&params, sizeof params);
    sampler.temperature = 0.0f;
    params.sampler = &sampler;
    params.max_tokens = n_tokens;

    edge_generate_result result = {.struct_size = sizeof result};
    edge_status status = edge_generate(session, argv[2], &params, print_piece, NULL, &result);
    if (status != EDGE_OK) {
        edge_session_free(session);
        return fail("generate");
    }
    /* The text ends with a newline, as run-edge's does. */
    fputs("\n", stdout);
    /* Timings as run-edge prints them (the same clocks: benches/README.md compares the two). */
    fprintf(stderr, "prompt: %u tokens in %.0f ms, %.1f tokens/s\n", result.prompt_tokens,
            result.prompt_ms, result.prompt_ms > 0 ? result.prompt_tokens * 1e3 / result.prompt_ms : 0);
    fprintf(stderr, "generated: %u tokens in %.0f ms, %.1f tokens/s (stop reason %d)\n",
            result.generated_tokens, result.generate_ms,
            result.generate_ms > 0 ? result.generated_tokens * 1e3 / result.generate_ms : 0,
            (int)result.stop_reason);
    edge_session_free(session);
    return 0;
}
