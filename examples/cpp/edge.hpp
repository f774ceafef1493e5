// edge.hpp: RAII wrappers over libedge's C handles (include/edge.h), for C++17.
//
// edge::Model, edge::Session and edge::Sampler own one handle each and free it in their
// destructor; they move but do not copy. A failed call throws edge::Error with the status and
// edge_last_error()'s message. The C API's rules hold: a session keeps its model alive, a model
// may be shared by sessions on several threads, a session is used by one thread at a time.
#pragma once

#include <edge.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace edge {

// A failed libedge call: its status and the message edge_last_error() gave.
class Error : public std::runtime_error {
public:
    explicit Error(edge_status status) : std::runtime_error(edge_last_error()), status_(status) {}
    edge_status status() const noexcept { return status_; }

private:
    edge_status status_;
};

// Throws edge::Error unless `status` is EDGE_OK.
inline void check(edge_status status) {
    if (status != EDGE_OK) {
        throw Error(status);
    }
}

namespace detail {
struct FreeModel {
    void operator()(edge_model *model) const noexcept { edge_model_free(model); }
};
struct FreeSession {
    void operator()(edge_session *session) const noexcept { edge_session_free(session); }
};
struct FreeSampler {
    void operator()(edge_sampler *sampler) const noexcept { edge_sampler_free(sampler); }
};
}  // namespace detail

// Default parameters, filled by libedge (struct_size set).
inline edge_model_params model_params() {
    edge_model_params p;
    check(edge_model_params_default(&p, sizeof p));
    return p;
}
inline edge_session_params session_params() {
    edge_session_params p;
    check(edge_session_params_default(&p, sizeof p));
    return p;
}
inline edge_sampler_params sampler_params() {
    edge_sampler_params p;
    check(edge_sampler_params_default(&p, sizeof p));
    return p;
}
inline edge_generate_params generate_params() {
    edge_generate_params p;
    check(edge_generate_params_default(&p, sizeof p));
    return p;
}

// A loaded GGUF model (edge_model_load / edge_model_free).
class Model {
public:
    explicit Model(const std::string &path, const edge_model_params *params = nullptr) {
        edge_model *raw = nullptr;
        check(edge_model_load(path.c_str(), params, &raw));
        handle_.reset(raw);
    }

    edge_model *get() const noexcept { return handle_.get(); }
    uint32_t n_vocab() const noexcept { return edge_model_n_vocab(get()); }
    uint32_t n_ctx_train() const noexcept { return edge_model_n_ctx_train(get()); }

    // The tokens of `text` (asks for the count first: the buffer rule of edge.h).
    std::vector<edge_token> tokenize(const std::string &text, bool add_bos = true,
                                     bool parse_special = true) const {
        size_t n = 0;
        edge_status s =
            edge_tokenizer_tokenize(get(), text.c_str(), add_bos, parse_special, nullptr, 0, &n);
        std::vector<edge_token> tokens(n);
        if (s == EDGE_BUFFER_TOO_SMALL) {
            s = edge_tokenizer_tokenize(get(), text.c_str(), add_bos, parse_special,
                                        tokens.data(), tokens.size(), &n);
        }
        check(s);
        tokens.resize(n);
        return tokens;
    }

    // The text of one token.
    std::string piece(edge_token token, bool special = false) const {
        size_t needed = 0;
        edge_status s = edge_tokenizer_token_to_piece(get(), token, special, nullptr, 0, &needed);
        if (s != EDGE_BUFFER_TOO_SMALL) {
            check(s);
        }
        std::string text(needed, '\0');  // needed counts the NUL
        size_t len = 0;
        check(edge_tokenizer_token_to_piece(get(), token, special, text.data(), needed, &len));
        text.resize(len);
        return text;
    }

private:
    std::unique_ptr<edge_model, detail::FreeModel> handle_;
};

// One sequence's KV cache and threads over a model (edge_session_new / edge_session_free).
class Session {
public:
    explicit Session(const Model &model, const edge_session_params *params = nullptr) {
        edge_session *raw = nullptr;
        check(edge_session_new(model.get(), params, &raw));
        handle_.reset(raw);
    }

    edge_session *get() const noexcept { return handle_.get(); }
    uint32_t n_past() const noexcept { return edge_session_n_past(get()); }
    void eval(const std::vector<edge_token> &tokens) {
        check(edge_session_eval(get(), tokens.data(), tokens.size()));
    }
    void reset() { check(edge_session_reset(get())); }
    void set_threads(uint32_t n_threads) { check(edge_session_set_threads(get(), n_threads)); }

    // One turn of edge_generate: `on_piece(std::string_view)` gets each piece of text and
    // returns false to stop. An exception it throws stops the turn and is rethrown here (it
    // never crosses libedge's frames).
    template <class OnPiece>
    edge_generate_result generate(const std::string &prompt, const edge_generate_params &params,
                                  OnPiece &&on_piece) {
        Callback<std::remove_reference_t<OnPiece>> callback{on_piece, nullptr};
        edge_generate_result result{};
        result.struct_size = sizeof result;
        edge_status s = edge_generate(get(), prompt.c_str(), &params,
                                      &Callback<std::remove_reference_t<OnPiece>>::call,
                                      &callback, &result);
        if (callback.error) {
            std::rethrow_exception(callback.error);
        }
        check(s);
        return result;
    }

private:
    template <class F>
    struct Callback {
        F &f;
        std::exception_ptr error;
        static bool call(const char *piece, size_t len, void *user_data) noexcept {
            auto *self = static_cast<Callback *>(user_data);
            try {
                return self->f(std::string_view(piece, len));
            } catch (...) {
                self->error = std::current_exception();
                return false;
            }
        }
    };

    std::unique_ptr<edge_session, detail::FreeSession> handle_;
};

// A sampler over a model's vocabulary (edge_sampler_new / edge_sampler_free).
class Sampler {
public:
    Sampler(const Model &model, const edge_sampler_params &params) {
        edge_sampler *raw = nullptr;
        check(edge_sampler_new(model.get(), &params, &raw));
        handle_.reset(raw);
    }

    // The next token from the session's last logits; accept() it before evaluating it.
    edge_token sample(Session &session) {
        edge_token token = 0;
        check(edge_sampler_sample(handle_.get(), session.get(), &token));
        return token;
    }
    void accept(edge_token token) { check(edge_sampler_accept(handle_.get(), token)); }

private:
    std::unique_ptr<edge_sampler, detail::FreeSampler> handle_;
};

}  // namespace edge
