/*
 * Two sessions over one model on two threads at once give the same text as one after the
 * other; a session entered by a second thread during a call returns EDGE_BUSY. Run by
 * runtime/tests/c_abi.rs:
 *
 *     threads MODEL.gguf
 */
#define _POSIX_C_SOURCE 200809L
#include <edge.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N_TOKENS 48

typedef struct {
    edge_session *session;
    const char *prompt;
    char text[8192];
    size_t len;
    edge_status status;
} job;

static bool append(const char *piece, size_t len, void *user_data) {
    job *j = user_data;
    if (j->len + len < sizeof j->text) {
        memcpy(j->text + j->len, piece, len);
        j->len += len;
        j->text[j->len] = '\0';
    }
    return true;
}

static void *run(void *arg) {
    job *j = arg;
    edge_sampler_params greedy;
    edge_generate_params params;
    edge_sampler_params_default(&greedy, sizeof greedy);
    edge_generate_params_default(&params, sizeof params);
    greedy.temperature = 0.0f;
    params.sampler = &greedy;
    params.max_tokens = N_TOKENS;
    params.ignore_eos = true;
    j->len = 0;
    j->text[0] = '\0';
    j->status = edge_generate(j->session, j->prompt, &params, append, j, NULL);
    return NULL;
}

/* The piece callback of the BUSY check: holds the session until the main thread has tried it. */
static atomic_int inside = 0;
static atomic_int checked = 0;

static bool hold(const char *piece, size_t len, void *user_data) {
    (void)piece;
    (void)len;
    (void)user_data;
    atomic_store(&inside, 1);
    while (!atomic_load(&checked)) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return false;
}

static void *hold_session(void *arg) {
    edge_session *session = arg;
    edge_generate(session, "Once upon a time", NULL, hold, NULL, NULL);
    return NULL;
}

static edge_session *new_session(edge_model *model) {
    edge_session_params params;
    edge_session_params_default(&params, sizeof params);
    params.n_threads = 1;
    params.n_ctx = 256;
    edge_session *session = NULL;
    if (edge_session_new(model, &params, &session) != EDGE_OK) {
        fprintf(stderr, "session: %s\n", edge_last_error());
    }
    return session;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    edge_model *model = NULL;
    if (edge_model_load(argv[1], NULL, &model) != EDGE_OK) {
        fprintf(stderr, "load: %s\n", edge_last_error());
        return 1;
    }
    edge_session *a = new_session(model);
    edge_session *b = new_session(model);
    edge_model_free(model);
    if (a == NULL || b == NULL) {
        return 1;
    }
    job alone[2] = {{.session = a, .prompt = "Once upon a time"},
                    {.session = b, .prompt = "The little dog"}};
    run(&alone[0]);
    run(&alone[1]);
    edge_session_reset(a);
    edge_session_reset(b);

    job together[2] = {{.session = a, .prompt = alone[0].prompt},
                       {.session = b, .prompt = alone[1].prompt}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&threads[i], NULL, run, &together[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
    }
    int failed = 0;
    for (int i = 0; i < 2; i++) {
        if (alone[i].status != EDGE_OK || together[i].status != EDGE_OK || alone[i].len == 0 ||
            strcmp(alone[i].text, together[i].text) != 0) {
            fprintf(stderr, "session %d: alone (%s) \"%s\", together (%s) \"%s\"\n", i,
                    edge_status_str(alone[i].status), alone[i].text,
                    edge_status_str(together[i].status), together[i].text);
            failed = 1;
        }
    }

    pthread_t holder;
    pthread_create(&holder, NULL, hold_session, a);
    while (!atomic_load(&inside)) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    edge_token token = 1;
    edge_status busy = edge_session_eval(a, &token, 1);
    atomic_store(&checked, 1);
    pthread_join(holder, NULL);
    if (busy != EDGE_BUSY || strstr(edge_last_error(), "in use") == NULL) {
        fprintf(stderr, "second thread in a session: %s (%s), expected EDGE_BUSY\n",
                edge_status_str(busy), edge_last_error());
        failed = 1;
    }
    if (edge_session_eval(a, &token, 1) != EDGE_OK) {
        fprintf(stderr, "after the other thread left: %s\n", edge_last_error());
        failed = 1;
    }
    edge_session_free(a);
    edge_session_free(b);
    if (failed) {
        return 1;
    }
    printf("ok: %s|%s\n", together[0].text, together[1].text);
    return 0;
}
