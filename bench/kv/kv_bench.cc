// gantry-kv vs etcd, same client (kv::Client over the JSON gateway, one keep-alive
// connection per client thread, TCP_NODELAY), same payloads, same durability (both
// fdatasync before acknowledging), same machine. Prints both and the ratio.
//   build/bench/kv/kv_bench [seconds-per-test] [--runs N] [--gantry-only | --etcd-only]
//                           [--endpoint HOST:PORT [--only TEST] [--no-load]]
//                           [--gantry-normal] [--etcd-fifo] [--gantry-arg ARG]...
//                           [--client-cpus LIST] [--no-floor]
// With --runs N both servers are started fresh N times and every row is the median. Both
// run side by side; each timed test runs in slices, the two servers taking turns. --endpoint runs
// the timed tests against a server that is already running (for perf/strace), without the RSS row;
// --only runs one timed test (put1, put16, range1, prefix, watch), --no-load skips the fixed load
// (run it once).
//
// Each fresh server first gets the same fixed load (which is also the warm-up): 16
// clients x 500 puts over 16 x 100 keys, 5,000 keys under one prefix loaded in txns of
// 100, 20 ranges over that prefix, 1,000 single-key ranges. RSS is read right after it, so
// both servers hold the same data; the timed tests that follow write as many versions as
// each server manages in the time, which would make the faster one look fatter.
//
// A third server takes turns in the one-client put test: floor_server (floor_server.cc),
// which only reads a request, appends its body with the same durable write as gantry-kv's
// WAL and answers, run with gantry-kv's scheduling policy and CPUs. Nothing can answer one
// client's durable puts with much less work, so it shows how far from that gantry-kv is and
// what ratio to etcd is possible at all on the machine. --no-floor skips it.
#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "kv/affinity.h"
#include "kv/json.h"
#include "kv/tests/server_fixture.h"

using namespace gantry::kv;
using namespace gantry::kv::testing;
using Clk = std::chrono::steady_clock;

namespace {

double seconds = 2.0;
// Scheduling: gantry-kv runs SCHED_FIFO by default (kv/realtime.h). --gantry-normal runs it
// as SCHED_OTHER; --etcd-fifo puts every etcd thread in SCHED_FIFO 1 too, to show how much
// of a ratio is the policy rather than the server.
std::vector<std::string> gantry_args;  // --gantry-normal, --gantry-arg X: passed to gantry-kv
bool etcd_fifo = false;
// --client-cpus LIST: the rate tests' client threads (puts, ranges) run only there, for
// both servers alike. On this PVM guest a wake-up across CPUs is an IPI and a VM exit, so
// where put1's one client runs against gantry-kv (pinned to the disk's interrupt CPU)
// moves its rate by a quarter; unset, the scheduler places the clients (docs/kv.md).
std::set<int> client_cpus;
bool floor_server = true;  // --no-floor: false

// Pins the calling thread to client_cpus, if set.
void pin_client_thread() {
    if (client_cpus.empty()) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : client_cpus) {
        CPU_SET(c, &set);
    }
    if (::sched_setaffinity(0, sizeof set, &set) < 0) {
        std::perror("kv_bench: sched_setaffinity of a client thread");
        std::exit(1);
    }
}

// `pid` gets the scheduling policy and the CPUs of `like`.
bool schedule_like(pid_t pid, pid_t like) {
    sched_param p{};
    cpu_set_t cpus;
    int policy = ::sched_getscheduler(like);
    if (policy < 0 || ::sched_getparam(like, &p) < 0 ||
        ::sched_getaffinity(like, sizeof cpus, &cpus) < 0 ||
        ::sched_setscheduler(pid, policy, &p) < 0 ||
        ::sched_setaffinity(pid, sizeof cpus, &cpus) < 0) {
        std::perror("kv_bench: scheduling floor_server like gantry-kv");
        return false;
    }
    return true;
}

// Every thread of `pid` (and the threads it starts later, which inherit it) to SCHED_FIFO 1.
bool make_fifo(pid_t pid) {
    sched_param p{};
    p.sched_priority = 1;
    bool ok = true;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        pid_t tid = std::stoi(e.path().filename());
        if (::sched_setscheduler(tid, SCHED_FIFO, &p) < 0) {
            std::perror("sched_setscheduler etcd");
            ok = false;
        }
    }
    return ok;
}

// Operations per second of `op` run by `clients` threads for `seconds`.
template <typename Op>
double rate(const std::string& ep, int clients, Op op) {
    std::atomic<long> n = 0;
    std::atomic<bool> stop = false;
    std::vector<std::thread> ts;
    for (int i = 0; i < clients; ++i) {
        ts.emplace_back([&, i] {
            pin_client_thread();
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
    double cpu_put1_us, cpu_put16_us;  // server CPU time (all threads) per put
};

// CPU time the process has run, all threads, in ns (schedstat's first field).
double cpu_ns(pid_t pid) {
    double sum = 0;
    std::error_code ec;
    for (const auto& t :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream f(t.path() / "schedstat");
        double run = 0;
        if (f >> run) {
            sum += run;
        }
    }
    return sum;
}

bool put_op(Client& c, int i, long k) {
    return static_cast<bool>(c.put("bench/" + std::to_string(i) + "/" + std::to_string(k % 1000),
                                   "value-" + std::to_string(k)));
}

bool prefix_op(Client& c) {
    auto x = c.get("p/", true);
    return x && x->size() > 5000 * 64;
}

// The fixed load every fresh server gets before RSS is read and the timed tests run.
bool fixed_load(const std::string& ep) {
    std::atomic<bool> ok = true;
    std::vector<std::thread> ts;
    for (int i = 0; i < 16; ++i) {
        ts.emplace_back([&, i] {
            Client c(ep);
            for (long k = 0; k < 500; ++k) {
                if (!c.put("bench/" + std::to_string(i) + "/" + std::to_string(k % 100),
                           "value-" + std::to_string(k))) {
                    ok = false;
                    return;
                }
            }
        });
    }
    for (auto& t : ts) {
        t.join();
    }
    // 5,000 keys under one prefix, loaded in txns of 100 puts.
    Client loader(ep);
    for (int t = 0; t < 50 && ok; ++t) {
        std::string body = R"({"success":[)";
        for (int i = 0; i < 100; ++i) {
            body += fmt::format(R"({}{{"request_put":{{"key":"{}","value":"{}"}}}})", i ? "," : "",
                                json::base64_encode(fmt::format("p/{:05}", t * 100 + i)),
                                json::base64_encode(std::string(64, 'x')));
        }
        body += "]}";
        auto r = loader.post("/v3/kv/txn", body);
        ok = ok && r && r->status == 200;
    }
    ok = ok && loader.put("single", "v");
    for (int i = 0; i < 20 && ok; ++i) {
        ok = prefix_op(loader);
    }
    for (int i = 0; i < 1000 && ok; ++i) {
        ok = static_cast<bool>(loader.get("single"));
    }
    if (!ok) {
        std::fprintf(stderr, "fixed load failed\n");
    }
    return ok;
}

// The timed tests; expects the data of fixed_load().
// `only` (--only) limits them to one: put1, put16, range1, prefix, watch.
Results timed(const std::string& ep, const std::string& only = "") {
    Results r{};
    auto want = [&](const char* t) { return only.empty() || only == t; };
    if (want("put1")) {
        r.put1 = rate(ep, 1, put_op);
    }
    if (want("put16")) {
        r.put16 = rate(ep, 16, put_op);
    }
    if (want("range1")) {
        r.range1 =
            rate(ep, 1, [](Client& c, int, long) { return static_cast<bool>(c.get("single")); });
    }
    if (want("prefix")) {
        r.prefix5000 = rate(ep, 1, [](Client& c, int, long) { return prefix_op(c); });
    }
    if (want("watch")) {
        r.watch_us = watch_latency_us(ep);
    }
    return r;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// Timed tests run in kSlices slices per server, gantry-kv and etcd taking turns (the
// first alternates), so that both see the same machine: on a shared 2-core machine the
// other sessions' load swings the absolute numbers by several times within seconds.
constexpr int kSlices = 4;

struct Server {
    enum Kind { gantry, etcd, floor } kind = gantry;
    std::string dir;
    Child child;
    std::string ep;
    Results r{};

    const char* name() const {
        return kind == etcd ? "etcd" : kind == floor ? "floor_server" : "gantry-kv";
    }
};

// Fresh servers for each run, so earlier runs' data does not inflate RSS or slow ranges.
// Returns false if one did not start or failed the load.
bool run_fresh(std::vector<Server>& servers) {
    for (auto& s : servers) {
        s.dir = temp_dir((std::string("kv-bench-") + s.name()).c_str());
        int port = free_port(), peer = free_port();
        s.child = s.kind == Server::etcd    ? start_etcd(port, peer, s.dir)
                  : s.kind == Server::floor ? Child({GANTRY_FLOOR_BIN, std::to_string(port), s.dir})
                                            : start_gantry_kv(port, s.dir, gantry_args);
        s.ep = "127.0.0.1:" + std::to_string(port);
    }
    bool ok = true;
    for (auto& s : servers) {
        if (!wait_ready(s.ep, std::chrono::seconds(30))) {
            std::fprintf(stderr, "%s did not start\n", s.name());
            ok = false;
        }
    }
    for (auto& s : servers) {
        if (ok && s.kind == Server::etcd && etcd_fifo) {
            ok = make_fifo(s.child.pid());
        }
        if (ok && s.kind == Server::floor) {
            ok = schedule_like(s.child.pid(), servers[0].child.pid());  // gantry-kv's
        }
    }
    for (auto& s : servers) {
        ok = ok && (s.kind == Server::floor || fixed_load(s.ep));
    }
    if (ok) {
        // Both servers give memory back lazily (glibc trim when idle, Go's scavenger):
        // RSS is read after a second of quiet.
        std::this_thread::sleep_for(std::chrono::seconds(1));
        for (auto& s : servers) {
            s.r.rss = rss_mib(s.child.pid());
        }
        double total = seconds;
        seconds = total / kSlices;
        std::vector<double> cpu1(servers.size()), cpu16(servers.size());
        for (const char* test : {"put1", "put16", "range1", "prefix", "watch"}) {
            // The servers that take this test; the floor only answers one client's puts.
            std::vector<size_t> takers;
            for (size_t i = 0; i < servers.size(); ++i) {
                if (servers[i].kind != Server::floor || std::string_view(test) == "put1") {
                    takers.push_back(i);
                }
            }
            for (int k = 0; k < kSlices; ++k) {
                for (size_t j = 0; j < takers.size(); ++j) {
                    size_t i = takers[(j + static_cast<size_t>(k)) % takers.size()];
                    auto& s = servers[i];
                    double cpu0 = cpu_ns(s.child.pid());
                    Results x = timed(s.ep, test);
                    double cpu = cpu_ns(s.child.pid()) - cpu0;
                    if (std::string_view(test) == "put1") {
                        cpu1[i] += cpu;
                    } else if (std::string_view(test) == "put16") {
                        cpu16[i] += cpu;
                    }
                    s.r.put1 += x.put1 / kSlices;
                    s.r.put16 += x.put16 / kSlices;
                    s.r.range1 += x.range1 / kSlices;
                    s.r.prefix5000 += x.prefix5000 / kSlices;
                    s.r.watch_us += x.watch_us / kSlices;
                }
            }
        }
        for (size_t i = 0; i < servers.size(); ++i) {
            auto& r = servers[i].r;
            r.cpu_put1_us = cpu1[i] / 1000 / std::max(1.0, r.put1 * total);
            r.cpu_put16_us = cpu16[i] / 1000 / std::max(1.0, r.put16 * total);
        }
        seconds = total;
    }
    for (auto& s : servers) {
        s.child.kill();
        std::filesystem::remove_all(s.dir);
    }
    return ok;
}

constexpr const char* kUsage =
    "usage: kv_bench [SECONDS-PER-TEST] [--runs N] [--gantry-only | --etcd-only]\n"
    "                [--endpoint HOST:PORT [--only put1|put16|range1|prefix|watch] [--no-load]]\n"
    "                [--gantry-normal] [--etcd-fifo] [--gantry-arg ARG]... [--client-cpus LIST]\n"
    "                [--no-floor]\n";

// A positive number of seconds, or nothing (a flag, garbage, trailing characters).
std::optional<double> parse_seconds(const std::string& a) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(a.c_str(), &end);
    if (a.empty() || end != a.c_str() + a.size() || errno != 0 || !(v > 0) || v > 3600) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 1;
    bool gantry_only = false, etcd_only = false;
    std::string endpoint, only;
    bool no_load = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--gantry-only") {
            gantry_only = true;
        } else if (a == "--etcd-only") {
            etcd_only = true;
        } else if (a == "--endpoint" && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (a == "--only" && i + 1 < argc) {
            only = argv[++i];
        } else if (a == "--gantry-normal") {
            gantry_args.insert(gantry_args.end(), {"--realtime-priority", "0"});
        } else if (a == "--gantry-arg" && i + 1 < argc) {
            gantry_args.push_back(argv[++i]);
        } else if (a == "--etcd-fifo") {
            etcd_fifo = true;
        } else if (a == "--no-floor") {
            floor_server = false;
        } else if (a == "--no-load") {
            no_load = true;
        } else if (a == "--client-cpus" && i + 1 < argc) {
            auto cpus = parse_cpu_list(argv[++i]);
            if (!cpus) {
                std::fprintf(stderr, "kv_bench: --client-cpus '%s': %s\n%s", argv[i],
                             cpus.error().str().c_str(), kUsage);
                return 2;
            }
            client_cpus = std::move(*cpus);
        } else if (auto s = parse_seconds(a)) {
            seconds = *s;
        } else {
            // --help, an unknown flag, a flag missing its value, or a bad number.
            bool help = a == "--help" || a == "-h";
            std::fprintf(help ? stdout : stderr, "%s%s",
                         help ? "" : ("kv_bench: bad argument '" + a + "'\n").c_str(), kUsage);
            return help ? 0 : 2;
        }
    }
    if (!endpoint.empty()) {
        if (!no_load && !fixed_load(endpoint)) {
            return 1;
        }
        Results r = timed(endpoint, only);
        std::printf(
            "puts/s 1 client %.1f, 16 clients %.1f; ranges/s single %.1f, prefix %.1f; "
            "watch %.1f us\n",
            r.put1, r.put16, r.range1, r.prefix5000, r.watch_us);
        return 0;
    }
    // gantry-kv first: the floor copies its scheduling.
    std::vector<Server::Kind> kinds;
    if (!etcd_only) {
        kinds.push_back(Server::gantry);
    }
    if (!gantry_only) {
        kinds.push_back(Server::etcd);
    }
    if (floor_server && kinds.size() == 2) {
        kinds.push_back(Server::floor);
    }
    std::vector<Results> by_kind[3];  // indexed by Server::Kind
    auto &rg = by_kind[Server::gantry], &re = by_kind[Server::etcd], &rf = by_kind[Server::floor];
    for (int i = 0; i < runs; ++i) {
        std::vector<Server> servers;
        for (auto kind : kinds) {
            servers.emplace_back().kind = kind;
        }
        if (!run_fresh(servers)) {
            return 1;
        }
        for (auto& s : servers) {
            by_kind[s.kind].push_back(s.r);
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
    row("server CPU us/put, 1 client", &Results::cpu_put1_us, true);
    row("server CPU us/put, 16 clnts", &Results::cpu_put16_us, true);
    row("RSS MiB after fixed load", &Results::rss, true);
    if (!rf.empty()) {
        double f = col(rf, &Results::put1), e = col(re, &Results::put1);
        std::printf("%-28s %12.1f %12.1f %7.2fx   gantry-kv: %.0f%% of the floor\n",
                    "floor: puts/s, 1 client", f, e, f / e, 100 * col(rg, &Results::put1) / f);
    }
    // A median hides how often a target is missed: the one-client ratios of every run.
    if (runs > 1 && rg.size() == re.size()) {
        for (const auto* v : {&rg, &rf}) {
            if (v->empty()) {
                continue;
            }
            std::printf("%s, 1 client, each run:", v == &rg ? "gantry-kv/etcd" : "floor/etcd");
            for (size_t i = 0; i < v->size(); ++i) {
                std::printf(" %.2fx", (*v)[i].put1 / re[i].put1);
            }
            std::printf("\n");
        }
    }
    return 0;
}
