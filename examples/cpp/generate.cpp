// generate (C++): greedy text from a prompt, streamed to stdout, through the RAII wrappers of
// edge.hpp. Same usage and output as examples/c/generate.c:
//
//     generate MODEL.gguf "prompt" [n_tokens]
//
// Build (from the repository root; the shared library and pkg-config work as for C, see
// examples/c/README.md):
//     c++ -std=c++17 examples/cpp/generate.cpp -Iinclude target/release/libedge.a
//         -lpthread -ldl -lm -lrt -lgcc_s -o generate
#include "edge.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        std::cerr << "usage: " << argv[0] << " MODEL.gguf \"prompt\" [n_tokens]\n";
        return 2;
    }
    int n_tokens = 32;
    if (argc == 4) {
        char *end = nullptr;
        long n = std::strtol(argv[3], &end, 10);
        if (*argv[3] == '\0' || *end != '\0' || n < 0 || n > 1000000) {
            std::cerr << "error: n_tokens " << argv[3] << " is not a count\n";
            return 2;
        }
        n_tokens = static_cast<int>(n);
    }
    try {
        // The session keeps the model alive: the Model may go out of scope first.
        edge::Session session{edge::Model{argv[1]}};
        edge_sampler_params sampler = edge::sampler_params();
        sampler.temperature = 0.0f;
        edge_generate_params params = edge::generate_params();
        params.sampler = &sampler;
        params.max_tokens = n_tokens;
        edge_generate_result result =
            session.generate(argv[2], params, [](std::string_view piece) {
                std::fwrite(piece.data(), 1, piece.size(), stdout);
                std::fflush(stdout);
                return true;
            });
        // The text ends with a newline, as run-edge's does.
        std::fputs("\n", stdout);
        std::cerr << result.prompt_tokens << " prompt tokens, " << result.generated_tokens
                  << " generated, stop reason " << result.stop_reason << "\n";
    } catch (const edge::Error &e) {
        std::cerr << "error: " << e.what() << " (" << edge_status_str(e.status()) << ")\n";
        return 1;
    }
    return 0;
}
