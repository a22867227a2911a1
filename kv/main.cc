// gantry-kv: the etcd-v3-compatible key-value store daemon. Flags in, Server out.
#include <cstdio>
#include <cstring>
#include <string>

#include "kv/server.h"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: gantry-kv [--listen HOST:PORT]... [--unix PATH|''] "
                 "[--data-dir DIR|''] [--progress-interval-ms N]\n"
                 "  defaults: --listen 127.0.0.1:2379 --unix /run/gantry/kv.sock "
                 "--data-dir /var/lib/gantry/kv\n"
                 "  an empty --data-dir keeps everything in memory (tests only)\n");
}

}  // namespace

int main(int argc, char** argv) {
    gantry::kv::ServerOptions opts;
    bool listen_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--listen") {
            if (!listen_given) {
                opts.listen.clear();
                listen_given = true;
            }
            opts.listen.push_back(value());
        } else if (a == "--unix") {
            opts.unix_path = value();
        } else if (a == "--data-dir") {
            opts.data_dir = value();
        } else if (a == "--progress-interval-ms") {
            opts.progress_interval = std::chrono::milliseconds(std::stoll(value()));
        } else {
            usage();
            return 2;
        }
    }
    auto server = gantry::kv::Server::create(opts);
    if (!server) {
        std::fprintf(stderr, "gantry-kv: %s\n", server.error().str().c_str());
        return 1;
    }
    auto ports = (*server)->ports();
    for (size_t i = 0; i < ports.size(); ++i) {
        std::fprintf(stderr, "gantry-kv: listening on port %d\n", ports[i]);
    }
    if (auto st = (*server)->run(); !st) {
        std::fprintf(stderr, "gantry-kv: %s\n", st.error().str().c_str());
        return 1;
    }
    return 0;
}
