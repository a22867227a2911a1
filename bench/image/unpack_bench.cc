// Unpack benchmark: one ~200 MiB image (busybox base, a layer of many small files, a layer
// of a few large ones; gzip), unpacked into an empty directory by
//   - gantry flat:    flatten_image(), all layers applied into one tree (what umoci makes)
//   - gantry layers:  ensure_layers(), the path a container root takes (layers in parallel,
//                     one syncfs for all of them before they are published)
//   - umoci unpack:   Debian's umoci, from the same OCI layout
//   - bsdtar -x:      Debian's libarchive-tools, each layer blob in order
//   - bsdtar -x+sync: the same, then syncfs, for a like-for-like look at "gantry layers"
// With --pull (needs docker-registry and skopeo) it also starts a registry on a random
// 127.0.0.1 port, pushes the image with skopeo, and times a pull into an empty store:
// Gantry's pull_image() vs `skopeo copy docker://... oci:DIR`.
// Each tool runs --runs times (default 3) after an untimed warm-up round, interleaved, each
// into a fresh directory (see the fairness rules at "2. Runs"); the median is reported
// with its ratio to bsdtar, and every run's time on stderr. Prints a Markdown table for
// docs/images.md. --keep leaves the work directory (image layout, store) for profiling
// with gantry-unpack-one.
//
//   gantry-bench-image [--work DIR] [--runs N] [--small-files N] [--large-mib N] [--pull]
//                      [--keep]
#include <arpa/inet.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/import.h"
#include "image/layer_batch.h"
#include "image/registry.h"
#include "image/rootfs.h"
#include "rootfs-build/image_builder.h"

namespace {

using namespace gantry;
using Clock = std::chrono::steady_clock;

struct Rng {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

// Text-like content (compresses about 3:1, like source trees and configs).
std::string text(Rng& r, size_t n) {
    static const char* kWords[] = {"container", "layer ", "the ",  "image\n", "gantry ",
                                   "overlay",   " = ",    "0x1f ", "static ", "return;\n"};
    std::string s;
    s.reserve(n + 16);
    while (s.size() < n) {
        s += kWords[r.next() % 10];
        if (r.next() % 4 == 0) {
            s += static_cast<char>('a' + r.next() % 26);
        }
    }
    s.resize(n);
    return s;
}

// Binary-like content: random runs and zero runs (compresses about 2:1).
std::string binary(Rng& r, size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8192) {
        if (r.next() % 2 == 0) {
            for (size_t j = i; j < std::min(n, i + 8192); j += 8) {
                uint64_t v = r.next();
                std::memcpy(&s[j], &v, std::min<size_t>(8, n - j));
            }
        }
    }
    return s;
}

// The 1/5/15-minute load averages, for the run conditions printed with the table.
std::string loadavg() {
    std::string s = read_file("/proc/loadavg").value_or("?");
    auto cut = s.find(' ', s.find(' ', s.find(' ') + 1) + 1);
    return s.substr(0, cut);
}

double seconds(const std::function<void()>& f) {
    auto t0 = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

int run(const std::vector<std::string>& argv) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        ::dup2(null, 1);
        std::vector<char*> a;
        for (const auto& s : argv) {
            a.push_back(const_cast<char*>(s.c_str()));
        }
        a.push_back(nullptr);
        ::execvp(a[0], a.data());
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

template <typename T>
void check(const Result<T>& s, const char* what) {
    if (!s) {
        fmt::print(stderr, "{}: {}\n", what, s.error());
        std::exit(1);
    }
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

void pull_bench(const std::string& work, const std::string& layout, int runs) {
    if (::access("/usr/bin/docker-registry", X_OK) != 0 || ::access("/usr/bin/skopeo", X_OK) != 0) {
        fmt::print("\npull: docker-registry or skopeo not installed; skipped\n");
        return;
    }
    // 1. A registry on loopback with its own storage.
    int port = free_port();
    std::string host = fmt::format("127.0.0.1:{}", port);
    check(write_file_atomic(work + "/registry.yml",
                            fmt::format("version: 0.1\nlog:\n  level: error\nstorage:\n  "
                                        "filesystem:\n    rootdirectory: {}/registry\nhttp:\n  "
                                        "addr: {}\n",
                                        work, host)),
          "registry config");
    pid_t reg = ::fork();
    if (reg == 0) {
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execl("/usr/bin/docker-registry", "docker-registry", "serve",
                (work + "/registry.yml").c_str(), nullptr);
        ::_exit(127);
    }
    ::usleep(1500 * 1000);  // the registry starts in well under a second
    // 2. Push, then time pulls into empty destinations.
    std::string ref = host + "/bench/image:bench";
    if (run({"skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
             "oci:" + layout + ":bench", "docker://" + ref}) != 0) {
        fmt::print(stderr, "skopeo push failed\n");
    } else {
        std::vector<double> g, sk;
        for (int r = 0; r < runs; ++r) {
            check(image::remove_tree(work + "/pull-store"), "clean");
            g.push_back(seconds([&] {
                auto store = *image::Store::open(work + "/pull-store");
                check(image::pull_image(store, ref, {}), "gantry pull");
            }));
            check(image::remove_tree(work + "/pull-oci"), "clean");
            sk.push_back(seconds([&] {
                if (run({"skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                         "docker://" + ref, "oci:" + work + "/pull-oci:bench"}) != 0) {
                    fmt::print(stderr, "skopeo copy failed\n");
                }
            }));
        }
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v[v.size() / 2];
        };
        fmt::print(
            "\n| pull from 127.0.0.1 registry | median of {} (s) | time vs skopeo |\n"
            "|---|---|---|\n| gantry pull | {:.2f} | {:.2f}x |\n"
            "| skopeo copy (to oci:) | {:.2f} | 1.00x |\n",
            runs, median(g), median(g) / median(sk), median(sk));
    }
    ::kill(reg, SIGTERM);
    ::waitpid(reg, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
    std::string work;
    int runs = 3;
    int small_files = 24000;
    int large_mib = 100;
    bool pull = false;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--work") {
            work = next();
        } else if (a == "--runs") {
            runs = std::stoi(next());
        } else if (a == "--small-files") {
            small_files = std::stoi(next());
        } else if (a == "--keep") {
            keep = true;
        } else if (a == "--pull") {
            pull = true;
        } else if (a == "--large-mib") {
            large_mib = std::stoi(next());
        } else {
            fmt::print(stderr,
                       "usage: gantry-bench-image [--work DIR] [--runs N] "
                       "[--small-files N] [--large-mib N] [--pull] [--keep]\n");
            return 2;
        }
    }
    if (work.empty()) {
        work = *image::make_temp_dir("/var/tmp", "gantry-bench-image-");
    }
    bool have_umoci = ::access("/usr/bin/umoci", X_OK) == 0;
    bool have_bsdtar = ::access("/usr/bin/bsdtar", X_OK) == 0;

    // 1. The image.
    Rng rng;
    build::ImageBuildSpec spec;
    spec.tag = "bench";
    build::LayerSpec small, large;
    uint64_t small_bytes = 0, large_bytes = 0;
    for (int d = 0; d < small_files / 100; ++d) {
        small.files.push_back({.path = fmt::format("usr/share/pkg{}", d),
                               .kind = build::FileSpec::Kind::kDir,
                               .mode = 0755});
        for (int f = 0; f < 100; ++f) {
            size_t n = 256 + rng.next() % 8000;
            small_bytes += n;
            small.files.push_back({.path = fmt::format("usr/share/pkg{}/file{}.txt", d, f),
                                   .content = text(rng, n),
                                   .mode = 0644});
        }
    }
    for (int i = 0; i < 4; ++i) {
        size_t n = static_cast<size_t>(large_mib) * (1 << 20) / 4;
        large_bytes += n;
        large.files.push_back(
            {.path = fmt::format("opt/blob{}.bin", i), .content = binary(rng, n), .mode = 0644});
    }
    spec.layers = {std::move(small), std::move(large)};
    std::string layout = work + "/layout";
    double build_s = seconds([&] { check(build::build_oci_layout(spec, layout), "build"); });
    spec.layers.clear();  // free the content
    auto store = *image::Store::open(work + "/store");
    check(image::import_archive(store, layout, {.name = "bench:bench"}), "import");
    auto img = *store.load("bench:bench");
    uint64_t compressed = 0;
    for (const auto& l : img.manifest.layers) {
        compressed += l.size;
    }
    fmt::print(stderr,
               "image: {} small files ({:.0f} MiB), 4 large ({:.0f} MiB), busybox; "
               "{:.0f} MiB gzip in {} layers; built in {:.1f}s\n",
               small_files, small_bytes / 1048576.0, large_bytes / 1048576.0,
               compressed / 1048576.0, img.manifest.layers.size(), build_s);

    // 2. Runs. Fairness rules:
    //   - every tool extracts into a fresh directory on the same filesystem, and nothing is
    //     deleted until all runs are done: deleting a tree right before the next tool's run
    //     would bill that tool for it (on ext4 without a journal, as on the development VM,
    //     each create then scans every inode freed in the last minutes: 5x slower creates);
    //   - sync (untimed) before each timed run, so no tool pays for another's writeback;
    //   - one untimed warm-up round, so blobs and binaries are in the page cache for all;
    //   - tools interleaved, the order rotated every run, so load drift hits all alike.
    // "gantry layers" includes its durability (one syncfs for all layers + fsync of
    // layers/); "bsdtar -x+sync" adds a syncfs to bsdtar; the others write to the page cache
    // only.
    std::map<std::string, std::vector<double>> times;
    std::string outs = work + "/out";
    check(image::mkdir_p(outs), "mkdir");
    int seq = 0;
    auto fresh = [&](const char* tag) {
        std::string d = fmt::format("{}/{}-{}", outs, tag, seq++);
        check(image::mkdir_p(d), "mkdir");
        return d;
    };
    std::vector<std::pair<std::string, std::function<void()>>> tools;
    tools.emplace_back("gantry flat", [&] {
        std::string d = fresh("flat");
        auto fd = Fd::open(d, O_RDONLY | O_DIRECTORY);
        ::sync();
        times["gantry flat"].push_back(
            seconds([&] { check(image::flatten_image(store, img, fd->get()), "gantry"); }));
    });
    tools.emplace_back("gantry layers", [&] {
        // Move the previous run's layers aside (a rename, not a delete).
        std::string layers = store.root() + "/layers/sha256";
        if (::rename(layers.c_str(), fresh("layers").append("/sha256").c_str()) != 0) {
            fmt::print(stderr, "rename layers: {}\n", std::strerror(errno));
            std::exit(1);
        }
        check(image::mkdir_p(layers), "mkdir");
        ::sync();
        times["gantry layers"].push_back(seconds([&] {
            check(image::ensure_layers(store, img.manifest.layers, img.config.diff_ids),
                  "ensure_layers");
        }));
    });
    if (have_umoci) {
        tools.emplace_back("umoci unpack", [&] {
            std::string d = fresh("umoci") + "/bundle";  // umoci wants to create it
            ::sync();
            times["umoci unpack"].push_back(seconds([&] {
                if (run({"umoci", "unpack", "--image", layout + ":bench", d}) != 0) {
                    fmt::print(stderr, "umoci unpack failed\n");
                    std::exit(1);
                }
            }));
        });
    }
    auto bsdtar = [&](const char* name, bool sync) {
        std::string d = fresh("bsdtar");
        ::sync();
        times[name].push_back(seconds([&] {
            for (const auto& l : img.manifest.layers) {
                if (run({"bsdtar", "-x", "-p", "-f", store.blob_path(l.digest), "-C", d}) != 0) {
                    fmt::print(stderr, "bsdtar failed\n");
                    std::exit(1);
                }
            }
            auto fd = Fd::open(d, O_RDONLY | O_DIRECTORY);
            if (sync && (!fd || ::syncfs(fd->get()) != 0)) {
                fmt::print(stderr, "syncfs '{}' failed\n", d);
                std::exit(1);
            }
        }));
    };
    if (have_bsdtar) {
        tools.emplace_back("bsdtar -x", [&] { bsdtar("bsdtar -x", false); });
        tools.emplace_back("bsdtar -x+sync", [&] { bsdtar("bsdtar -x+sync", true); });
    }
    std::string load_before = loadavg();
    for (int r = -1; r < runs; ++r) {  // r == -1: the warm-up round
        for (size_t k = 0; k < tools.size(); ++k) {
            tools[(k + static_cast<size_t>(std::max(r, 0))) % tools.size()].second();
        }
        if (r == -1) {
            times.clear();
        }
    }
    for (const auto& [name, v] : times) {
        std::string all;
        for (double t : v) {
            all += fmt::format(" {:.2f}", t);
        }
        fmt::print(stderr, "{}:{}\n", name, all);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    double base = times.contains("bsdtar -x") ? median(times["bsdtar -x"]) : 0;
    double base_sync = times.contains("bsdtar -x+sync") ? median(times["bsdtar -x+sync"]) : 0;
    double mib = (small_bytes + large_bytes) / 1048576.0;
    fmt::print("load average (1/5/15 min) before the runs: {}, after: {}\n\n", load_before,
               loadavg());
    fmt::print(
        "| tool | median of {} (s) | MiB/s | time vs bsdtar -x | vs bsdtar -x+sync |\n"
        "|---|---|---|---|---|\n",
        runs);
    for (const char* name :
         {"gantry flat", "gantry layers", "umoci unpack", "bsdtar -x", "bsdtar -x+sync"}) {
        if (!times.contains(name)) {
            fmt::print("| {} | not installed | | | |\n", name);
            continue;
        }
        double m = median(times[name]);
        auto ratio = [&](double b) { return b > 0 ? fmt::format("{:.2f}x", m / b) : "-"; };
        fmt::print("| {} | {:.2f} | {:.0f} | {} | {} |\n", name, m, mib / m, ratio(base),
                   ratio(base_sync));
    }
    std::fflush(stdout);  // the table, before the (slow, untimed) teardown
    if (pull) {
        pull_bench(work, layout, runs);
    }
    if (keep) {
        fmt::print(stderr, "kept {}\n", work);
    } else {
        check(image::remove_tree(work), "clean");
    }
    return 0;
}
