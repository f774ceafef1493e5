/*
 * C-level checks of libedge's error paths and low-level API, run by runtime/tests/c_abi.rs:
 *
 *     abi_checks MODEL.gguf MISSING_PATH CORRUPT.gguf
 *
 * Prints one line per failed check and exits 1 if any failed; "ok N checks" otherwise.
 */
#include <edge.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_checks = 0;
static int n_failed = 0;

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        n_checks++;                                                                         \
        if (!(cond)) {                                                                      \
            n_failed++;                                                                     \
            fprintf(stderr, "FAILED line %d: %s: ", __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, " (last error: %s)\n", edge_last_error());                      \
        }                                                                                   \
    } while (0)

/* The status is `expected` and the last error mentions `needle`. */
#define CHECK_STATUS(call, expected, needle)                                                \
    do {                                                                                    \
        edge_status got_ = (call);                                                          \
        CHECK(got_ == (expected), "%s returned %s, expected %s", #call,                     \
              edge_status_str(got_), edge_status_str(expected));                            \
        if ((expected) != EDGE_OK) {                                                        \
            CHECK(strstr(edge_last_error(), (needle)) != NULL, "message lacks \"%s\"",      \
                  (needle));                                                                \
        }                                                                                   \
    } while (0)

/* The test-only panic hook: not in edge.h, not part of the API. */
void edge_test_panic_next_call(void);

/* What the load's progress callback saw; it stops the load after `stop_after` calls (0:
 * never). */
typedef struct {
    float fractions[4096];
    int n;
    int stop_after;
} progress_log;

static bool log_progress(float fraction, void *user_data) {
    progress_log *p = user_data;
    if (p->n < (int)(sizeof p->fractions / sizeof *p->fractions)) {
        p->fractions[p->n] = fraction;
    }
    p->n++;
    return p->stop_after == 0 || p->n < p->stop_after;
}

static int abort_calls = 0;
static bool abort_after_two(void *user_data) {
    (void)user_data;
    return ++abort_calls > 2;
}

typedef struct {
    char text[4096];
    size_t len;
    int pieces;
    int stop_after; /* return false after this many pieces (0: never) */
} collected;

static bool collect(const char *piece, size_t len, void *user_data) {
    collected *c = user_data;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, piece, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    c->pieces++;
    return c->stop_after == 0 || c->pieces < c->stop_after;
}

static void check_statics(void) {
    CHECK(strcmp(edge_status_str(EDGE_OK), "EDGE_OK") == 0, "status name");
    CHECK(strcmp(edge_status_str(EDGE_BUSY), "EDGE_BUSY") == 0, "status name");
    CHECK(strcmp(edge_status_str(12345), "EDGE_UNKNOWN_STATUS") == 0, "unknown status");
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", EDGE_VERSION_MAJOR, EDGE_VERSION_MINOR,
             EDGE_VERSION_PATCH);
    CHECK(strcmp(edge_version(), version) == 0, "version %s vs header %s", edge_version(),
          version);
    CHECK(strstr(edge_system_info(), "isa: ") == edge_system_info(), "system info %s",
          edge_system_info());
    edge_model_free(NULL);
    edge_session_free(NULL);
    edge_sampler_free(NULL);
}

static void check_load_errors(const char *missing, const char *corrupt) {
    edge_model *model = NULL;
    CHECK_STATUS(edge_model_load(NULL, NULL, &model), EDGE_INVALID_ARG, "path is NULL");
    CHECK_STATUS(edge_model_load(missing, NULL, NULL), EDGE_INVALID_ARG, "model_out is NULL");
    CHECK_STATUS(edge_model_load(missing, NULL, &model), EDGE_IO, missing);
    CHECK_STATUS(edge_model_load("\xff\xfe.gguf", NULL, &model), EDGE_INVALID_ARG,
                 "not valid UTF-8");
    edge_model_params params = {.struct_size = 2};
    CHECK_STATUS(edge_model_load(missing, &params, &model), EDGE_INVALID_ARG, "struct_size");
    CHECK_STATUS(edge_model_load(corrupt, NULL, &model), EDGE_BAD_MODEL, "outside the file");
    CHECK(model == NULL, "no model after failures");
}

/* The progress callback sees 0, rising fractions, then 1; returning false aborts the load. */
static void check_load_progress(const char *path) {
    edge_model_params params;
    CHECK_STATUS(edge_model_params_default(&params, sizeof params), EDGE_OK, "");
    static progress_log seen;
    memset(&seen, 0, sizeof seen);
    params.progress_callback = log_progress;
    params.progress_user_data = &seen;
    edge_model *model = NULL;
    CHECK_STATUS(edge_model_load(path, &params, &model), EDGE_OK, "");
    CHECK(seen.n >= 3 && seen.n <= 4096, "%d progress calls", seen.n);
    if (seen.n >= 3 && seen.n <= 4096) {
        CHECK(seen.fractions[0] == 0.0f, "first fraction %g", seen.fractions[0]);
        CHECK(seen.fractions[seen.n - 1] == 1.0f, "last fraction %g",
              seen.fractions[seen.n - 1]);
        int between = 0;
        for (int i = 1; i < seen.n; i++) {
            CHECK(seen.fractions[i] >= seen.fractions[i - 1], "fraction %d: %g after %g", i,
                  seen.fractions[i], seen.fractions[i - 1]);
            between += seen.fractions[i] > 0.0f && seen.fractions[i] < 1.0f;
        }
        CHECK(between >= 1, "no fraction strictly between 0 and 1");
    }
    edge_model_free(model);

    /* Stopped at the third report: ABORTED, no model, and the next load works. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 3;
    model = NULL;
    CHECK_STATUS(edge_model_load(path, &params, &model), EDGE_ABORTED, "progress callback");
    CHECK(model == NULL && seen.n == 3, "model %p after %d calls", (void *)model, seen.n);
    seen.stop_after = 1;
    CHECK_STATUS(edge_model_load(path, &params, &model), EDGE_ABORTED, "stopped the load");
    CHECK(model == NULL && seen.n == 4, "stopped at the first report");
    CHECK_STATUS(edge_model_load(path, NULL, &model), EDGE_OK, "");
    edge_model_free(model);
}

/* A panic forced inside Rust (the test hook) comes back as EDGE_PANIC with a message; the
 * process, the model and the session keep working. */
static void check_panic(const char *path) {
    edge_model *model = NULL;
    edge_test_panic_next_call();
    CHECK_STATUS(edge_model_load(path, NULL, &model), EDGE_PANIC, "panic");
    CHECK(strstr(edge_last_error(), "edge_model_load") != NULL &&
              strstr(edge_last_error(), "forced by the test hook") != NULL,
          "panic message");
    CHECK(model == NULL, "no model after a panic");
    CHECK_STATUS(edge_model_load(path, NULL, &model), EDGE_OK, "");

    edge_session *session = NULL;
    edge_session_params sp;
    edge_session_params_default(&sp, sizeof sp);
    sp.n_threads = 1;
    CHECK_STATUS(edge_session_new(model, &sp, &session), EDGE_OK, "");
    edge_token tokens[3] = {1, 2, 3};
    edge_test_panic_next_call();
    CHECK_STATUS(edge_session_eval(session, tokens, 3), EDGE_PANIC, "internal error (panic)");
    CHECK(edge_session_n_past(session) == 0, "nothing evaluated by the panicking call");
    CHECK_STATUS(edge_session_eval(session, tokens, 3), EDGE_OK, "");
    CHECK(edge_session_n_past(session) == 3, "n_past %u after the panic",
          edge_session_n_past(session));
    edge_session_free(session);
    edge_model_free(model);
}

/* Threads changed mid-session (prompt on 2, then 1, then 3) give the logits of a session on one
 * thread throughout, to the bit. */
static void check_set_threads(edge_model *model) {
    edge_session_params sp;
    edge_session_params_default(&sp, sizeof sp);
    sp.n_threads = 1;
    edge_session *steady = NULL, *changing = NULL;
    CHECK_STATUS(edge_session_new(model, &sp, &steady), EDGE_OK, "");
    CHECK_STATUS(edge_session_new(model, &sp, &changing), EDGE_OK, "");
    if (steady == NULL || changing == NULL) {
        edge_session_free(steady);
        edge_session_free(changing);
        return;
    }
    CHECK_STATUS(edge_session_set_threads(NULL, 1), EDGE_INVALID_ARG, "session is NULL");
    CHECK_STATUS(edge_session_set_threads(changing, 1u << 30), EDGE_INVALID_ARG, "threads");
    CHECK(edge_session_n_threads(changing) == 1, "threads kept after a refused change");

    size_t n_vocab = edge_model_n_vocab(model), n = 0;
    float *a = calloc(n_vocab, sizeof *a), *b = calloc(n_vocab, sizeof *b);
    edge_token tokens[64];
    CHECK_STATUS(edge_tokenizer_tokenize(model, "Once upon a time, in a small town", true, true,
                                         tokens, 64, &n),
                 EDGE_OK, "");
    const unsigned threads[] = {2, 1, 3, 2};
    CHECK_STATUS(edge_session_set_threads(changing, threads[0]), EDGE_OK, "");
    CHECK(edge_session_n_threads(changing) == 2, "threads %u", edge_session_n_threads(changing));
    CHECK_STATUS(edge_session_eval(steady, tokens, n), EDGE_OK, "");
    CHECK_STATUS(edge_session_eval(changing, tokens, n), EDGE_OK, "");
    for (int step = 0; step < 12; step++) {
        size_t na = 0, nb = 0;
        CHECK_STATUS(edge_session_logits(steady, a, n_vocab, &na), EDGE_OK, "");
        CHECK_STATUS(edge_session_logits(changing, b, n_vocab, &nb), EDGE_OK, "");
        CHECK(na == n_vocab && nb == n_vocab && memcmp(a, b, n_vocab * sizeof *a) == 0,
              "logits differ in bits at step %d", step);
        /* Greedy: the next token is the steady session's argmax. */
        edge_token next = 0;
        for (size_t i = 1; i < n_vocab; i++) {
            if (a[i] > a[next]) {
                next = (edge_token)i;
            }
        }
        CHECK_STATUS(edge_session_set_threads(changing, threads[(step + 1) % 4]), EDGE_OK, "");
        CHECK_STATUS(edge_session_eval(steady, &next, 1), EDGE_OK, "");
        CHECK_STATUS(edge_session_eval(changing, &next, 1), EDGE_OK, "");
    }
    free(a);
    free(b);
    edge_session_free(steady);
    edge_session_free(changing);
}

static void check_tokenizer(const edge_model *model) {
    size_t n = 0;
    edge_token tokens[4];
    CHECK_STATUS(edge_tokenizer_tokenize(model, "Once upon a time there was", true, true, tokens,
                                         2, &n),
                 EDGE_BUFFER_TOO_SMALL, "buffer has 2");
    size_t needed = n;
    CHECK(needed > 2, "needed %zu tokens", needed);
    edge_token *all = calloc(needed, sizeof *all);
    CHECK_STATUS(edge_tokenizer_tokenize(model, "Once upon a time there was", true, true, all,
                                         needed, &n),
                 EDGE_OK, "");
    CHECK(n == needed, "count %zu vs %zu", n, needed);
    CHECK_STATUS(edge_tokenizer_tokenize(model, NULL, true, true, all, needed, &n),
                 EDGE_INVALID_ARG, "text is NULL");
    CHECK_STATUS(edge_tokenizer_tokenize(NULL, "x", true, true, all, needed, &n),
                 EDGE_INVALID_ARG, "model is NULL");

    char piece[2];
    CHECK_STATUS(edge_tokenizer_token_to_piece(model, all[n - 1], false, piece, 1, &n),
                 EDGE_BUFFER_TOO_SMALL, "the buffer has 1");
    char big[64];
    size_t len = 0;
    CHECK_STATUS(edge_tokenizer_token_to_piece(model, all[needed - 1], false, big, n, &len),
                 EDGE_OK, "");
    CHECK(len + 1 == n && strlen(big) == len, "piece length %zu, needed %zu", len, n);
    CHECK_STATUS(edge_tokenizer_token_to_piece(model, 0xFFFFFFF0u, false, big, sizeof big, &len),
                 EDGE_INVALID_ARG, "out of range");
    CHECK(edge_tokenizer_bos(model) >= 0, "bos %lld", (long long)edge_tokenizer_bos(model));
    CHECK(edge_tokenizer_is_eog(model, (edge_token)edge_tokenizer_eos(model)), "eos is eog");
    CHECK(edge_tokenizer_bos(NULL) == -1, "bos of NULL");
    free(all);
}

static void check_session(edge_model *model) {
    edge_session *session = NULL;
    edge_session_params sp;
    CHECK_STATUS(edge_session_params_default(&sp, 3), EDGE_INVALID_ARG, "struct_size");
    CHECK_STATUS(edge_session_params_default(&sp, sizeof sp), EDGE_OK, "");
    sp.n_ctx = 8;
    sp.n_threads = 1;
    sp.kv_type = 7;
    CHECK_STATUS(edge_session_new(model, &sp, &session), EDGE_INVALID_ARG, "kv_type 7");
    sp.kv_type = EDGE_KV_F32;
    sp.isa = "mmx";
    CHECK_STATUS(edge_session_new(model, &sp, &session), EDGE_INVALID_ARG, "mmx");
    sp.isa = NULL;
    CHECK_STATUS(edge_session_new(model, &sp, &session), EDGE_OK, "");
    CHECK(edge_session_n_ctx(session) == 8, "n_ctx %u", edge_session_n_ctx(session));

    float logits[4];
    size_t n = 0;
    CHECK_STATUS(edge_session_logits(session, logits, 4, &n), EDGE_INVALID_ARG, "no token");
    edge_token nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_STATUS(edge_session_eval(session, nine, 9), EDGE_CONTEXT_FULL, "n_ctx 8");
    CHECK_STATUS(edge_session_eval(session, nine, 0), EDGE_INVALID_ARG, "no tokens");
    CHECK_STATUS(edge_session_eval(session, NULL, 3), EDGE_INVALID_ARG, "tokens is NULL");
    edge_token bad = edge_model_n_vocab(model);
    CHECK_STATUS(edge_session_eval(session, &bad, 1), EDGE_INVALID_ARG, "out of range");
    CHECK_STATUS(edge_session_eval(session, nine, 3), EDGE_OK, "");
    CHECK(edge_session_n_past(session) == 3, "n_past %u", edge_session_n_past(session));
    CHECK_STATUS(edge_session_logits(session, logits, 4, &n), EDGE_BUFFER_TOO_SMALL, "buffer");
    CHECK(n == edge_model_n_vocab(model), "n_vocab %zu", n);
    CHECK_STATUS(edge_session_eval(session, nine, 6), EDGE_CONTEXT_FULL, "do not fit");
    CHECK_STATUS(edge_session_truncate(session, 1), EDGE_OK, "");
    CHECK(edge_session_n_past(session) == 1, "n_past after truncate");
    CHECK_STATUS(edge_session_reset(session), EDGE_OK, "");
    CHECK(edge_session_n_past(session) == 0, "n_past after reset");

    /* A generation that outgrows n_ctx 8 stops with CONTEXT_FULL, not an error. */
    edge_sampler_params greedy;
    edge_generate_params gp;
    edge_sampler_params_default(&greedy, sizeof greedy);
    edge_generate_params_default(&gp, sizeof gp);
    greedy.temperature = 0.0f;
    gp.sampler = &greedy;
    gp.max_tokens = 100;
    edge_generate_result result = {.struct_size = sizeof result};
    collected text = {0};
    CHECK_STATUS(edge_generate(session, "Once upon a time", &gp, collect, &text, &result),
                 EDGE_OK, "");
    CHECK(result.stop_reason == EDGE_STOP_CONTEXT_FULL, "stop reason %d",
          (int)result.stop_reason);
    CHECK_STATUS(edge_generate(session, "\xc3\x28", &gp, collect, &text, &result),
                 EDGE_INVALID_ARG, "not valid UTF-8");
    const char *long_prompt =
        "Once upon a time there was a little girl named Lily who lived in a house";
    CHECK_STATUS(edge_generate(session, long_prompt, &gp, NULL, NULL, &result),
                 EDGE_CONTEXT_FULL, "context");
    edge_chat_message hello = {"user", "hello"};
    char buf[16];
    CHECK_STATUS(edge_chat_apply_template(model, &hello, 1, true, buf, sizeof buf, &n),
                 EDGE_BAD_MODEL, "chat template");
    edge_session_free(session);
}

/* The low-level loop (tokenize, eval, sample, piece) gives edge_generate's text; the abort
 * and piece callbacks stop a turn. */
static void check_generation(edge_model *model) {
    edge_session *session = NULL;
    edge_session_params sp;
    edge_session_params_default(&sp, sizeof sp);
    sp.n_threads = 1;
    CHECK_STATUS(edge_session_new(model, &sp, &session), EDGE_OK, "");
    edge_sampler_params greedy;
    edge_generate_params gp;
    edge_sampler_params_default(&greedy, sizeof greedy);
    edge_generate_params_default(&gp, sizeof gp);
    greedy.temperature = 0.0f;
    gp.sampler = &greedy;
    gp.max_tokens = 24;
    gp.ignore_eos = true;
    const char *prompt = "Once upon a time";
    collected whole = {0};
    edge_generate_result result = {.struct_size = sizeof result};
    CHECK_STATUS(edge_generate(session, prompt, &gp, collect, &whole, &result), EDGE_OK, "");
    CHECK(result.stop_reason == EDGE_STOP_BUDGET && result.generated_tokens == 24,
          "stop %d after %u", (int)result.stop_reason, result.generated_tokens);

    edge_token tokens[64];
    size_t n = 0;
    CHECK_STATUS(edge_tokenizer_tokenize(model, prompt, true, true, tokens, 64, &n), EDGE_OK, "");
    CHECK_STATUS(edge_session_reset(session), EDGE_OK, "");
    CHECK_STATUS(edge_session_eval(session, tokens, n), EDGE_OK, "");
    edge_sampler *sampler = NULL;
    CHECK_STATUS(edge_sampler_new(model, &greedy, &sampler), EDGE_OK, "");
    char manual[4096] = {0};
    size_t manual_len = 0;
    for (int i = 0; i < 24; i++) {
        edge_token next = 0;
        CHECK_STATUS(edge_sampler_sample(sampler, session, &next), EDGE_OK, "");
        CHECK_STATUS(edge_sampler_accept(sampler, next), EDGE_OK, "");
        char piece[64];
        size_t len = 0;
        CHECK_STATUS(edge_tokenizer_token_to_piece(model, next, false, piece, sizeof piece, &len),
                     EDGE_OK, "");
        if (manual_len + len < sizeof manual) {
            memcpy(manual + manual_len, piece, len);
            manual_len += len;
        }
        CHECK_STATUS(edge_session_eval(session, &next, 1), EDGE_OK, "");
    }
    CHECK(manual_len == whole.len && memcmp(manual, whole.text, whole.len) == 0,
          "low-level text \"%s\" vs generate's \"%s\"", manual, whole.text);
    CHECK_STATUS(edge_sampler_reset(sampler), EDGE_OK, "");
    CHECK_STATUS(edge_sampler_sample(NULL, session, tokens), EDGE_INVALID_ARG, "sampler is NULL");
    edge_sampler_free(sampler);

    collected stopped = {.stop_after = 3};
    CHECK_STATUS(edge_generate(session, prompt, &gp, collect, &stopped, &result), EDGE_OK, "");
    CHECK(result.stop_reason == EDGE_STOP_ABORTED && stopped.pieces == 3,
          "piece callback stop: reason %d after %d pieces", (int)result.stop_reason,
          stopped.pieces);

    CHECK_STATUS(edge_session_set_abort_callback(session, abort_after_two, NULL), EDGE_OK, "");
    collected aborted = {0};
    CHECK_STATUS(edge_generate(session, prompt, &gp, collect, &aborted, &result), EDGE_OK, "");
    CHECK(result.stop_reason == EDGE_STOP_ABORTED && aborted.pieces == 2,
          "abort callback: reason %d after %d pieces", (int)result.stop_reason, aborted.pieces);
    CHECK_STATUS(edge_session_reset(session), EDGE_OK, "");
    edge_token many[40];
    for (int i = 0; i < 40; i++) {
        many[i] = tokens[i % n];
    }
    /* The callback now stops at once: nothing is evaluated. */
    CHECK_STATUS(edge_session_eval(session, many, 40), EDGE_ABORTED, "abort callback");
    CHECK(edge_session_n_past(session) == 0, "nothing evaluated after an immediate abort");
    CHECK_STATUS(edge_session_set_abort_callback(session, NULL, NULL), EDGE_OK, "");

    /* The model may go first: the session keeps it. */
    edge_model_free(model);
    CHECK_STATUS(edge_session_eval(session, many, 40), EDGE_OK, "");
    edge_session_free(session);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.gguf MISSING_PATH CORRUPT.gguf\n", argv[0]);
        return 2;
    }
    check_statics();
    check_load_errors(argv[2], argv[3]);
    edge_model *model = NULL;
    CHECK_STATUS(edge_model_load(argv[1], NULL, &model), EDGE_OK, "");
    if (model == NULL) {
        return 1;
    }
    CHECK(edge_model_n_vocab(model) > 0 && edge_model_n_layer(model) > 0 &&
              edge_model_n_embd(model) > 0 && edge_model_n_ctx_train(model) > 0 &&
              edge_model_size(model) > 0,
          "introspection");
    size_t n = 0;
    CHECK_STATUS(edge_model_meta_str(model, "general.architecture", NULL, 0, &n),
                 EDGE_BUFFER_TOO_SMALL, "needs 6 bytes");
    char arch[16];
    CHECK_STATUS(edge_model_meta_str(model, "general.architecture", arch, sizeof arch, &n),
                 EDGE_OK, "");
    CHECK(strcmp(arch, "llama") == 0 && n == 5, "architecture %s", arch);
    CHECK_STATUS(edge_model_meta_str(model, "no.such.key", arch, sizeof arch, &n),
                 EDGE_INVALID_ARG, "no.such.key");
    check_load_progress(argv[1]);
    check_panic(argv[1]);
    check_set_threads(model);
    check_tokenizer(model);
    check_session(model);
    check_generation(model); /* frees the model */
    if (n_failed > 0) {
        fprintf(stderr, "%d of %d checks failed\n", n_failed, n_checks);
        return 1;
    }
    printf("ok %d checks\n", n_checks);
    return 0;
}
