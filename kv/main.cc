// gantry-kv: the etcd-v3-compatible key-value store daemon. Flags in, Server out.
#include <fmt/ranges.h>
#include <malloc.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "base/log.h"
#include "kv/affinity.h"
#include "kv/realtime.h"
#include "kv/server.h"

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: gantry-kv [--listen HOST:PORT]... [--unix PATH|''] "
                 "[--data-dir DIR|''] [--progress-interval-ms N] [--realtime-priority N] "
                 "[--affinity storage|any]\n"
                 "  defaults: --listen 127.0.0.1:2379 --unix /run/gantry/kv.sock "
                 "--data-dir /var/lib/gantry/kv\n"
                 "  an empty --data-dir keeps everything in memory (tests only)\n"
                 "  --realtime-priority: SCHED_FIFO priority (default 1; 0: normal "
                 "scheduling)\n"
                 "  --affinity: storage (default) runs on the CPUs that take the data "
                 "disk's interrupts; any: wherever the scheduler puts it\n");
}

// Not fatal: without the sysfs information (a container, a virtual filesystem) the server
// runs wherever the scheduler puts it. Checked again every housekeeping interval, so the
// pinning follows the interrupts if irqbalance or an administrator moves them; a failure
// is logged once until the next success.
class IrqPinning {
  public:
    explicit IrqPinning(dev_t dev) : pin_(dev) {}
    void refresh() {
        auto moved = pin_.refresh();
        if (!moved) {
            if (!failed_) {
                gantry::log::info("gantry-kv not pinned to its disk's interrupt CPUs",
                                  {{"error", moved.error().str()}});
            }
            failed_ = true;
            return;
        }
        failed_ = false;
        if (*moved) {
            gantry::log::info("gantry-kv runs on its disk's interrupt CPUs",
                              {{"cpus", fmt::format("{}", fmt::join(**moved, ","))},
                               {"device", pin_.last().device}});
        }
    }

  private:
    gantry::kv::StoragePin pin_;
    bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    // Memory: the server is one thread, so one malloc arena. Fixed mmap and trim
    // thresholds stop glibc from raising them after the first large response is freed
    // (its dynamic threshold), which otherwise keeps megabytes of freed range results in
    // the heap for good.
    ::mallopt(M_ARENA_MAX, 1);
    ::mallopt(M_MMAP_THRESHOLD, 128 << 10);
    ::mallopt(M_TRIM_THRESHOLD, 256 << 10);
    gantry::kv::ServerOptions opts;
    bool listen_given = false;
    // SCHED_FIFO by default: see kv/realtime.h. The loop does little CPU work per
    // request and sleeps otherwise; the kernel's RT throttling (95% of each second by
    // default) bounds what a runaway request could take.
    int rt_priority = 1;
    // Run on the CPUs that take the data disk's interrupts: see kv/affinity.h.
    bool storage_affinity = true;
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
            std::string v = value();
            char* end = nullptr;
            long long ms = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || ms <= 0) {
                usage();
                return 2;
            }
            opts.progress_interval = std::chrono::milliseconds(ms);
        } else if (a == "--affinity") {
            std::string v = value();
            if (v != "storage" && v != "any") {
                usage();
                return 2;
            }
            storage_affinity = v == "storage";
        } else if (a == "--realtime-priority") {
            std::string v = value();
            char* end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n < 0 || n > 99) {
                usage();
                return 2;
            }
            rt_priority = static_cast<int>(n);
        } else {
            usage();
            return 2;
        }
    }
    if (auto st = gantry::kv::use_realtime(rt_priority); !st) {
        // Not fatal: without CAP_SYS_NICE it runs, with a put latency at the mercy of
        // the other tasks on a busy machine.
        gantry::log::warn(
            "gantry-kv keeps normal scheduling; puts will be slower on a busy "
            "machine (run it with CAP_SYS_NICE, or --realtime-priority 0 to "
            "silence this)",
            {{"error", st.error().str()}});
    }
    std::unique_ptr<IrqPinning> pinning;  // set once the data directory exists
    opts.housekeeping = [&pinning] {
        if (pinning) {
            pinning->refresh();
        }
    };
    auto server = gantry::kv::Server::create(opts);
    if (!server) {
        gantry::log::error("gantry-kv cannot start", {{"error", server.error().str()}});
        return 1;
    }
    struct stat data_st {};
    if (storage_affinity && !opts.data_dir.empty() &&
        ::stat(opts.data_dir.c_str(), &data_st) == 0) {
        pinning = std::make_unique<IrqPinning>(data_st.st_dev);
        pinning->refresh();
    }
    auto ports = (*server)->ports();
    for (size_t i = 0; i < ports.size(); ++i) {
        gantry::log::info("gantry-kv listening", {{"port", ports[i]}});
    }
    if (auto st = (*server)->run(); !st) {
        gantry::log::error("gantry-kv stopped", {{"error", st.error().str()}});
        return 1;
    }
    return 0;
}
