// gantryctl vm up / vm test: the OS image built next to this gantryctl, booted under QEMU
// (TCG) with a cloud-config passed through fw_cfg, exactly as the qemu tests boot it.
#include "qemu-tests/harness/vm.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/fd.h"
#include "base/units.h"
#include "ctl/vm_cmd.h"

namespace {

using namespace gantry;
using namespace gantry::qemu;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: gantryctl vm up CONFIG.yaml [--disk FILE|SIZE]... [--port HOST:GUEST]...\n"
    "                       [--name NAME] [--memory MB] [--image DIR] [--append ARGS]\n"
    "       gantryctl vm test CONFIG.yaml [--timeout DURATION] [--image DIR]\n"
    "`up` boots the config and streams the console; Ctrl-C presses the power button.\n"
    "`test` boots it, waits until every service is ready (or says why not), powers off.\n"
    "The OS image is build/os/gantry (or $GANTRY_OS_IMAGE); ports bind 127.0.0.1 only.\n";

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = g_stop + 1;
}

// build/ctl/gantryctl -> build/os/gantry, falling back to the test image.
std::string default_image_dir() {
    if (const char* e = std::getenv("GANTRY_OS_IMAGE"); e != nullptr && *e != '\0') {
        return e;
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
        for (const char* img : {"os/gantry", "os/test"}) {
            if (fs::exists(dir / img / "initramfs.cpio.zst", ec)) {
                return (dir / img).string();
            }
        }
    }
    return "build/os/gantry";
}

struct Flags {
    std::string config;
    VmConfig vm;
    std::string name;
    gantry::qemu::Duration timeout{180000};
};

Result<PortForward> parse_port(const std::string& s) {
    auto colon = s.find(':');
    int host = std::atoi(s.substr(0, colon).c_str());
    int guest = colon == std::string::npos ? 0 : std::atoi(s.substr(colon + 1).c_str());
    if (colon == std::string::npos || host <= 0 || host > 65535 || guest <= 0 || guest > 65535) {
        return fail(Error::msg("--port {}: expected HOST:GUEST, e.g. 8080:80", s));
    }
    return PortForward{static_cast<uint16_t>(host), static_cast<uint16_t>(guest)};
}

// A disk is an existing raw image, or a size for a new blank one in the VM's dir.
Result<std::string> prepare_disk(const std::string& spec, const std::string& dir, size_t index) {
    std::error_code ec;
    if (fs::exists(spec, ec)) {
        return fs::absolute(spec).string();
    }
    auto size = parse_size(spec);
    if (!size) {
        return fail(Error::msg("--disk {}: neither an existing file nor a size like 1G", spec));
    }
    std::string path = dir + "/disk" + std::to_string(index) + ".raw";
    auto fd = GANTRY_TRY(Fd::open(path, O_RDWR | O_CREAT, 0644));
    if (ftruncate(fd.get(), static_cast<off_t>(*size)) < 0) {
        return fail(Error::sys("truncate {}", path));
    }
    return path;
}

Result<Flags> parse_flags(int argc, char** argv, int first) {
    Flags f;
    f.vm.image_dir = default_image_dir();
    std::vector<std::string> disks;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> Result<std::string> {
            if (i + 1 >= argc) {
                return fail(Error::msg("{} needs a value", a));
            }
            return std::string(argv[++i]);
        };
        if (a == "--disk") {
            disks.push_back(GANTRY_TRY(value()));
        } else if (a == "--port") {
            f.vm.ports.push_back(GANTRY_TRY(parse_port(GANTRY_TRY(value()))));
        } else if (a == "--name") {
            f.name = GANTRY_TRY(value());
        } else if (a == "--memory") {
            f.vm.memory_mb = std::atoi(GANTRY_TRY(value()).c_str());
        } else if (a == "--append") {
            f.vm.append += (f.vm.append.empty() ? "" : " ") + GANTRY_TRY(value());
        } else if (a == "--image") {
            f.vm.image_dir = GANTRY_TRY(value());
        } else if (a == "--timeout") {
            auto d = GANTRY_TRY(parse_duration(GANTRY_TRY(value())));
            f.timeout = std::chrono::duration_cast<qemu::Duration>(d);
        } else if (!a.starts_with("-") && f.config.empty()) {
            f.config = a;
        } else {
            return fail(Error::msg("unknown argument '{}'\n{}", a, kUsage));
        }
    }
    if (f.config.empty()) {
        return fail(Error::msg("no CONFIG.yaml given\n{}", kUsage));
    }
    std::error_code ec;
    if (!fs::exists(f.config, ec)) {
        return fail(Error::msg("{}: no such file", f.config));
    }
    f.vm.config_file = fs::absolute(f.config).string();
    if (f.name.empty()) {
        f.name = fs::path(f.config).stem().string();
    }
    f.vm.work_dir = vm_state_root() + "/" + f.name;
    fs::create_directories(f.vm.work_dir, ec);
    for (size_t i = 0; i < disks.size(); ++i) {
        f.vm.disks.push_back(GANTRY_TRY(prepare_disk(disks[i], f.vm.work_dir, i)));
    }
    f.vm.network = true;
    return f;
}

// Copies what the console log gained since `offset` to stdout.
void stream_console(const Vm& vm, size_t& offset) {
    std::string log = vm.console();
    if (log.size() > offset) {
        (void)write_all(1, std::string_view(log).substr(offset));
        offset = log.size();
    }
}

// The guest's events since the `seen`th, one line each: the kernel console is quiet, so
// this is the boot timeline and every service state change a user watches.
//   [   5.229] service counter: waiting -> starting
void stream_events(const Vm& vm, size_t& seen) {
    auto events = vm.events();
    for (; seen < events.size(); ++seen) {
        const Event& e = events[seen];
        std::string rest = e.json;
        if (e.name == "service") {
            auto field = [&](const char* k) {
                std::string key = std::string("\"") + k + "\":\"";
                auto at = e.json.find(key);
                if (at == std::string::npos) {
                    return std::string();
                }
                at += key.size();
                return e.json.substr(at, e.json.find('"', at) - at);
            };
            std::string detail = field("detail");
            rest = fmt::format("{}: {} -> {}{}", field("service"), field("from"), field("to"),
                               detail.empty() ? "" : " (" + detail + ")");
        } else if (auto comma = e.json.find(',', e.json.find("\"t\""));
                   comma != std::string::npos) {
            rest = e.json.substr(comma + 1, e.json.size() - comma - 2);  // the other fields
        } else {
            rest.clear();
        }
        fmt::print("[{:8.3f}] {} {}\n", e.t, e.name, rest);
    }
    std::fflush(stdout);
}

Status vm_up(int argc, char** argv) {
    auto f = GANTRY_TRY(parse_flags(argc, argv, 2));
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    auto vm = GANTRY_TRY(Vm::start(f.vm));
    fmt::print(stderr, "vm {}: booting {} with {}\n", f.name, f.vm.image_dir, f.config);
    fmt::print(stderr, "vm {}: logs and sockets in {} (API: {}); Ctrl-C powers off\n", f.name,
               f.vm.work_dir, vm.ctl_socket());
    for (const auto& p : f.vm.ports) {
        fmt::print(stderr, "vm {}: guest port {} is 127.0.0.1:{}\n", f.name, p.guest, p.host);
    }
    size_t offset = 0, seen = 0;
    bool pressed = false;
    auto pressed_at = std::chrono::steady_clock::now();
    while (vm.running()) {
        stream_console(vm, offset);
        stream_events(vm, seen);
        if (g_stop > 0 && !pressed) {
            fmt::print(stderr, "\nvm {}: pressing the power button (again to kill)\n", f.name);
            (void)vm.power_button();
            pressed = true;
            pressed_at = std::chrono::steady_clock::now();
        }
        // A guest that ignores the button for 30 s, or a second Ctrl-C, gets killed.
        if (pressed && (g_stop > 1 ||
                        std::chrono::steady_clock::now() - pressed_at > std::chrono::seconds(30))) {
            vm.kill();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        vm.poll_exit();
    }
    stream_console(vm, offset);
    stream_events(vm, seen);
    fmt::print(stderr, "vm {}: stopped\n", f.name);
    return ok();
}

Status vm_test(int argc, char** argv) {
    auto f = GANTRY_TRY(parse_flags(argc, argv, 2));
    auto vm = GANTRY_TRY(Vm::start(f.vm));
    auto deadline = std::chrono::steady_clock::now() + f.timeout;
    // gantry-init reports "ready" once every service is ready, or "failed" with a reason.
    std::optional<Event> outcome;
    for (;;) {
        // Events first: a test image may report ready and power off between two polls.
        for (auto& e : vm.events()) {
            if (e.name == "ready" || e.name == "failed") {
                outcome = e;
                break;
            }
        }
        if (outcome || !vm.running() || std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        vm.poll_exit();
    }
    std::string why;
    if (!outcome) {
        why = vm.running() ? fmt::format("not ready after {}s", f.timeout.count() / 1000)
                           : "the machine stopped before it was ready";
    } else if (outcome->name == "failed") {
        why = outcome->json;
    }
    if (vm.running()) {
        (void)vm.power_button();
        if (!vm.wait_exit(qemu::Duration{30000})) {
            why += why.empty() ? "did not power off within 30s" : "; did not power off";
        }
    }
    if (vm.console().find("Kernel panic") != std::string::npos) {
        why += why.empty() ? "kernel panic" : "; kernel panic";
    }
    if (!why.empty()) {
        return fail(Error::msg("{}: {}\n--- console (last lines) ---\n{}\n--- logs in {}", f.config,
                               why, console_tail(vm.console()), f.vm.work_dir));
    }
    fmt::print("{}: ok, ready at t={:.3f}s (guest boot time)\n", f.config, outcome->t);
    return ok();
}

}  // namespace

// Where a VM's sockets and logs live, so `gantryctl --vm NAME` finds NAME/ctl.sock.
std::string vm_state_root() {
    if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0') {
        return std::string(x) + "/gantry/vm";
    }
    return geteuid() == 0 ? "/run/gantry/vm" : "/tmp/gantry-vm-" + std::to_string(geteuid());
}

std::string vm_ctl_socket(const std::string& name) {
    return vm_state_root() + "/" + name + "/ctl.sock";
}

int vm_command(int argc, char** argv) {
    std::string sub = argc >= 2 ? argv[1] : "";
    Status st;
    if (sub == "up") {
        st = vm_up(argc, argv);
    } else if (sub == "test") {
        st = vm_test(argc, argv);
    } else {
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
    if (!st) {
        fmt::print(stderr, "gantryctl vm {}: {}\n", sub, st.error());
        return 1;
    }
    return 0;
}
