// gantry-kv vs etcd, same client (kv::Client over the JSON gateway), same durability
// (both fsync before acknowledging), same machine. Prints both and the ratio.
//   build/bench/kv/kv_bench [seconds-per-test] [--runs N] [--gantry-only]
// With --runs N each server is started fresh N times and every row is the median.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include "kv/json.h"
#include "kv/tests/server_fixture.h"

using namespace gantry::kv;
using namespace gantry::kv::testing;
using Clk = std::chrono::steady_clock;

namespace {

double seconds = 2.0;

// Operations per second of `op` run by `clients` threads for `seconds`.
template <typename Op>
double rate(const std::string& ep, int clients, Op op) {
    std::atomic<long> n = 0;
    std::atomic<bool> stop = false;
    std::vector<std::thread> ts;
    for (int i = 0; i < clients; ++i) {
        ts.emplace_back([&, i] {
            Client c(ep);
            long k = 0;
            while (!stop) {
                if (!op(c, i, k++)) {
                    std::fprintf(stderr, "op failed\n");
                    return;
                }
                ++n;
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : ts) {
        t.join();
    }
    return n / seconds;
}

double rss_mib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stod(line.substr(6)) / 1024.0;
        }
    }
    return 0;
}

// Median microseconds from a put until a watcher on the key sees it.
double watch_latency_us(const std::string& ep) {
    std::atomic<int> seen = 0;
    std::atomic<int64_t> sent_ns = 0;
    std::vector<double> lat;
    std::thread t([&] {
        Client c(ep);
        auto st = c.stream("/v3/watch", R"({"create_request":{"key":"d2F0Y2g="}})",
                           [&](const std::string& m) {
                               if (m.find("events") != std::string::npos) {
                                   auto now = Clk::now().time_since_epoch().count();
                                   lat.push_back((now - sent_ns) / 1000.0);
                                   ++seen;
                               }
                               return seen < 200;
                           });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Client w(ep);
    for (int i = 0; i < 200; ++i) {
        int before = seen;
        sent_ns = Clk::now().time_since_epoch().count();
        (void)w.put("watch", std::to_string(i));
        while (seen == before) {
            std::this_thread::yield();
        }
    }
    t.join();
    std::sort(lat.begin(), lat.end());
    return lat[lat.size() / 2];
}

struct Results {
    double put1, put16, range1, prefix5000, watch_us, rss;
};

Results run(const std::string& ep, pid_t pid) {
    Results r{};
    auto put = [](Client& c, int i, long k) {
        return static_cast<bool>(
            c.put("bench/" + std::to_string(i) + "/" + std::to_string(k % 1000),
                  "value-" + std::to_string(k)));
    };
    r.put1 = rate(ep, 1, put);
    r.put16 = rate(ep, 16, put);
    (void)Client(ep).put("single", "v");
    r.range1 = rate(ep, 1, [](Client& c, int, long) { return static_cast<bool>(c.get("single")); });
    // 5,000 keys under one prefix, loaded in txns of 100 puts.
    Client loader(ep);
    for (int t = 0; t < 50; ++t) {
        std::string body = R"({"success":[)";
        for (int i = 0; i < 100; ++i) {
            body += fmt::format(R"({}{{"request_put":{{"key":"{}","value":"{}"}}}})", i ? "," : "",
                                json::base64_encode(fmt::format("p/{:05}", t * 100 + i)),
                                json::base64_encode(std::string(64, 'x')));
        }
        body += "]}";
        (void)loader.post("/v3/kv/txn", body);
    }
    r.prefix5000 = rate(ep, 1, [](Client& c, int, long) {
        auto x = c.get("p/", true);
        return x && x->size() > 5000 * 64;
    });
    r.watch_us = watch_latency_us(ep);
    r.rss = rss_mib(pid);
    return r;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// One fresh server per run, so earlier runs' data does not inflate RSS or slow ranges.
std::optional<Results> run_fresh(bool etcd) {
    std::string dir = temp_dir(etcd ? "kv-bench-etcd" : "kv-bench-gkv");
    int port = free_port(), peer = free_port();
    Child c = etcd ? start_etcd(port, peer, dir) : start_gantry_kv(port, dir);
    std::string ep = "127.0.0.1:" + std::to_string(port);
    std::optional<Results> r;
    if (wait_ready(ep, std::chrono::seconds(30))) {
        r = run(ep, c.pid());
    } else {
        std::fprintf(stderr, "%s did not start\n", etcd ? "etcd" : "gantry-kv");
    }
    c.kill();
    std::filesystem::remove_all(dir);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 1;
    bool gantry_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--gantry-only") {
            gantry_only = true;
        } else {
            seconds = std::stod(a);
        }
    }
    std::vector<Results> rg, re;
    for (int i = 0; i < runs; ++i) {
        for (bool etcd : {false, true}) {
            if (etcd && gantry_only) {
                continue;
            }
            auto r = run_fresh(etcd);
            if (!r) {
                return 1;
            }
            (etcd ? re : rg).push_back(*r);
        }
    }
    auto col = [](const std::vector<Results>& v, double Results::*f) {
        std::vector<double> x;
        for (const auto& r : v) {
            x.push_back(r.*f);
        }
        return median(x);
    };
    std::printf("%-28s %12s %12s %8s   (median of %d)\n", "test", "gantry-kv", "etcd", "ratio",
                runs);
    auto row = [&](const char* name, double Results::*f, bool lower_better) {
        double a = col(rg, f), b = col(re, f);
        std::printf("%-28s %12.1f %12.1f %7.2fx\n", name, a, b, lower_better ? b / a : a / b);
    };
    row("puts/s, 1 client", &Results::put1, false);
    row("puts/s, 16 clients", &Results::put16, false);
    row("ranges/s, single key", &Results::range1, false);
    row("ranges/s, 5000-key prefix", &Results::prefix5000, false);
    row("watch latency us (median)", &Results::watch_us, true);
    row("RSS MiB (lower better)", &Results::rss, true);
    return 0;
}
