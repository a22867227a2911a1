// gantry-boot-bench: boots an OS image N times under QEMU (TCG) and prints, for every event
// the guest reports on gantry.events, the median CLOCK_BOOTTIME at which it happened (the
// first, "pid1", is the kernel's own time to PID 1), plus the image sizes.
//   gantry-boot-bench [--image DIR] [--config FILE] [--runs N] [--append ARGS]
//                     [--console-dir DIR]   (keeps each boot's console as DIR/boot-N.log)
//                     [--smp N]             (vCPUs, default 1; TCG is multi-threaded)
//                     [--no-network]        (no NIC; by default the VM has one, as `vm up` does)
//                     [--icount]            (QEMU -icount shift=0,sleep=off: guest time counts
//                                            guest instructions, 1 ns each, so the timeline does
//                                            not move with the host's load; TCG's translation
//                                            time is then not in it. For comparing changes on
//                                            a busy machine, not for the headline numbers)
//                     [--qemu-arg ARG]...   (one more QEMU argument, for experiments)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "base/units.h"
#include "qemu-tests/harness/vm.h"

namespace {

using namespace gantry;
using namespace gantry::qemu;
namespace fs = std::filesystem;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t file_size(const std::string& p) {
    std::error_code ec;
    auto n = fs::file_size(p, ec);
    return ec ? 0 : n;
}

}  // namespace

int main(int argc, char** argv) {
    std::string image = fs::path(argv[0]).parent_path().string() + "/../os/test";
    if (!fs::exists(image)) {
        image = "build/os/test";
    }
    std::string config, append, console_dir;
    int runs = 5;
    int smp = 1;
    bool network = true;
    std::vector<std::string> extra;
    for (int i = 1; i < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--no-network") {
            network = false;
            --i;
        } else if (a == "--icount") {
            extra.insert(extra.end(), {"-icount", "shift=0,sleep=off"});
            --i;
        } else if (a == "--qemu-arg" && i + 1 < argc) {
            extra.push_back(argv[i + 1]);
        } else if (i + 1 == argc) {
            fmt::print(stderr, "{} needs a value (or unknown argument)\n", a);
            return 2;
        } else if (a == "--image") {
            image = argv[i + 1];
        } else if (a == "--config") {
            config = fs::absolute(argv[i + 1]).string();
        } else if (a == "--runs") {
            runs = std::max(1, std::atoi(argv[i + 1]));
        } else if (a == "--append") {
            append = argv[i + 1];
        } else if (a == "--smp") {
            smp = std::max(1, std::atoi(argv[i + 1]));
        } else if (a == "--console-dir") {
            console_dir = argv[i + 1];
        } else {
            fmt::print(stderr, "unknown argument {}\n", a);
            return 2;
        }
    }
    std::vector<std::string> order;  // event names in the order the guest reported them
    std::map<std::string, std::vector<double>> times;
    std::map<std::string, std::vector<double>> since_pid1;  // per boot: t(event) - t(pid1)
    std::vector<double> wall;
    for (int r = 0; r < runs; ++r) {
        VmConfig cfg{.image_dir = image,
                     .work_dir = fs::temp_directory_path().string() + "/gantry-boot-bench." +
                                 std::to_string(getpid()),
                     .config_file = config,
                     .network = network,
                     .append = append,
                     .cpus = smp,
                     .extra_args = extra};
        auto start = std::chrono::steady_clock::now();
        auto vm = Vm::start(cfg);
        if (!vm) {
            fmt::print(stderr, "boot {}: {}\n", r + 1, vm.error());
            return 1;
        }
        auto ready = vm->wait_event("ready", qemu::Duration{120000});
        wall.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        if (!ready) {
            fmt::print(stderr, "boot {}: {}\n{}\n", r + 1, ready.error(),
                       console_tail(vm->console()));
            return 1;
        }
        // Trailing events; with --console-dir also the console, which the serial port
        // drains slowly (115200 baud) after `ready`.
        std::this_thread::sleep_for(std::chrono::milliseconds(console_dir.empty() ? 200 : 3000));
        auto events = vm->events();
        double pid1 = -1;
        for (const auto& e : events) {
            if (e.name == "pid1") {
                pid1 = e.t;
            }
            if (e.name == "modules") {
                fmt::print(stderr, "boot {}: {}\n", r + 1, e.json);  // counts, port wait
            }
        }
        // The first event of each name per boot ("service" comes once per state change;
        // its first is the first service leaving `waiting`).
        // Each service's state changes are keyed too ("service counter -> healthy"), so
        // the table shows where the time between `service` and `ready` goes.
        std::set<std::string> seen;
        auto record = [&](const std::string& key, double t) {
            if (!seen.insert(key).second) {
                return;
            }
            if (!times.contains(key)) {
                order.push_back(key);
            }
            times[key].push_back(t);
            if (pid1 >= 0) {
                since_pid1[key].push_back(t - pid1);
            }
        };
        for (const auto& e : events) {
            record(e.name, e.t);
            if (e.name == "service") {
                auto j = nlohmann::json::parse(e.json, nullptr, false);
                if (j.is_object() && j.value("service", "") != "" && j.value("to", "") != "") {
                    record(
                        fmt::format("service {} -> {}", j.value("service", ""), j.value("to", "")),
                        e.t);
                }
            }
        }
        vm->kill();
        if (!console_dir.empty()) {
            fs::create_directories(console_dir);
            std::ofstream(fmt::format("{}/boot-{}.log", console_dir, r + 1)) << vm->console();
        }
        fmt::print(stderr, "boot {}/{}: ready at t={:.3f}s\n", r + 1, runs, ready->t);
        fs::remove_all(cfg.work_dir);
    }
    // Since-PID-1 medians are taken per boot, so a slow kernel in one boot (a busy host)
    // does not leak into the user-space numbers.
    fmt::print(
        "| event (CLOCK_BOOTTIME in the guest) | median | min | max | median since pid1 |\n");
    fmt::print("| --- | ---: | ---: | ---: | ---: |\n");
    for (const auto& name : order) {
        auto& v = times[name];
        std::string rel = since_pid1.contains(name)
                              ? fmt::format("{:.3f} s", median(since_pid1[name]))
                              : std::string("-");
        fmt::print("| {} | {:.3f} s | {:.3f} s | {:.3f} s | {} |\n", name, median(v),
                   *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()),
                   rel);
    }
    if (times.contains("pid1") && since_pid1.contains("ready")) {
        double k = median(times["pid1"]);
        double p = median(since_pid1["ready"]);
        fmt::print(
            "\nkernel -> PID 1: {:.3f} s; PID 1 -> ready: {:.3f} s ({:.0f}% of the kernel's)\n", k,
            p, 100 * p / k);
    }
    fmt::print("host wall clock, QEMU start -> ready: median {:.2f} s over {} boots\n",
               median(wall), runs);
    fmt::print("image: initramfs.cpio.zst {}, vmlinuz {}\n",
               format_size(file_size(image + "/initramfs.cpio.zst")),
               format_size(file_size(image + "/vmlinuz")));
    return 0;
}
