#include "qemu-tests/harness/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::qemu {

namespace fs = std::filesystem;

namespace {

constexpr Duration kPoll{50};

std::string read_or_empty(const std::string& path) {
    auto r = read_file(path);
    return r ? std::move(*r) : std::string();
}

}  // namespace

std::optional<Event> parse_event(std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("event") || !j["event"].is_string()) {
        return std::nullopt;
    }
    Event e;
    e.name = j["event"].get<std::string>();
    if (j.contains("t") && j["t"].is_number()) {
        e.t = j["t"].get<double>();
    }
    e.json = std::string(line);
    return e;
}

std::vector<std::string> qemu_argv(const VmConfig& cfg) {
    const std::string& w = cfg.work_dir;
    std::vector<std::string> a = {
        cfg.qemu, "-accel", "tcg", "-M", "q35", "-nodefaults", "-no-user-config", "-display",
        "none", "-m", std::to_string(cfg.memory_mb), "-smp", std::to_string(cfg.cpus),
        // -no-reboot: a guest reboot or panic (panic=-1) ends QEMU instead of looping.
        "-no-reboot", "-kernel", cfg.image_dir + "/vmlinuz", "-initrd",
        cfg.image_dir + "/initramfs.cpio.zst", "-append",
        "console=ttyS0 panic=-1 quiet" + (cfg.append.empty() ? "" : " " + cfg.append), "-serial",
        "file:" + w + "/console.log", "-qmp", "unix:" + w + "/qmp.sock,server=on,wait=off",
        // The RNG keeps getrandom() from blocking early in boot.
        "-device", "virtio-rng-pci", "-device", "virtio-serial-pci,id=vser",
        // Events go to a file, so nothing the guest writes before the host looks is lost.
        "-chardev", "file,id=ev,path=" + w + "/events.log", "-device",
        "virtserialport,bus=vser.0,chardev=ev,name=gantry.events", "-chardev",
        "socket,id=ctl,path=" + w + "/ctl.sock,server=on,wait=off", "-device",
        "virtserialport,bus=vser.0,chardev=ctl,name=gantry.ctl"};
    if (!cfg.config_file.empty()) {
        a.insert(a.end(), {"-fw_cfg", "name=opt/gantry/config,file=" + cfg.config_file});
    }
    for (size_t i = 0; i < cfg.disks.size(); ++i) {
        std::string id = "disk" + std::to_string(i);
        a.insert(a.end(), {"-drive", "if=none,id=" + id + ",format=raw,file=" + cfg.disks[i],
                           "-device", "virtio-blk-pci,drive=" + id});
    }
    if (cfg.network || !cfg.ports.empty()) {
        std::string net = "user,id=net0";
        for (const auto& p : cfg.ports) {
            // 127.0.0.1 only: a test VM must never be reachable from the network.
            net += fmt::format(",hostfwd=tcp:127.0.0.1:{}-:{}", p.host, p.guest);
        }
        a.insert(a.end(), {"-netdev", net, "-device", "virtio-net-pci,netdev=net0"});
    }
    a.insert(a.end(), cfg.extra_args.begin(), cfg.extra_args.end());
    return a;
}

Result<Vm> Vm::start(const VmConfig& cfg) {
    std::error_code ec;
    fs::create_directories(cfg.work_dir, ec);
    if (ec) {
        return fail(Error::with_errno(ec.value(), "create " + cfg.work_dir));
    }
    for (const char* f : {"console.log", "events.log", "qemu.log", "qmp.sock", "ctl.sock"}) {
        fs::remove(cfg.work_dir + "/" + f, ec);
    }
    for (const char* f : {"/vmlinuz", "/initramfs.cpio.zst"}) {
        if (!fs::exists(cfg.image_dir + f, ec)) {
            return fail(Error::msg("no OS image: {}{} is missing (build the os-image target)",
                                   cfg.image_dir, f));
        }
    }
    // Everything the child needs is prepared before the fork: it only dups and execs.
    auto argv = qemu_argv(cfg);
    std::vector<char*> cargv;
    for (auto& s : argv) {
        cargv.push_back(s.data());
    }
    cargv.push_back(nullptr);
    auto devnull = GANTRY_TRY(Fd::open("/dev/null", O_RDWR));
    auto log = GANTRY_TRY(Fd::open(cfg.work_dir + "/qemu.log", O_WRONLY | O_CREAT | O_TRUNC, 0644));
    auto child = GANTRY_TRY_CTX(PidFd::fork(), "start qemu");
    if (!child) {
        // Its own process group: a Ctrl-C on the terminal reaches `gantryctl vm up`, which
        // presses the power button, instead of killing QEMU under a running guest.
        setpgid(0, 0);
        dup2(devnull.get(), 0);
        dup2(log.get(), 1);
        dup2(log.get(), 2);
        execvp(cargv[0], cargv.data());
        _exit(127);
    }
    Vm vm;
    vm.cfg_ = cfg;
    vm.proc_ = std::move(*child);
    return vm;
}

Vm::~Vm() {
    if (proc_.valid() && running()) {
        kill();
    }
}

void Vm::poll_exit() {
    if (!proc_.valid() || exit_code_) {
        return;
    }
    auto st = proc_.try_wait();
    if (st && *st) {
        const auto& s = **st;
        exit_code_ = s.kind == ExitStatus::Kind::Exited ? s.code : 128 + s.signal;
    }
}

void Vm::kill() {
    if (!proc_.valid() || exit_code_) {
        return;
    }
    (void)proc_.send_signal(SIGKILL);
    if (auto st = proc_.wait()) {
        exit_code_ = st->kind == ExitStatus::Kind::Exited ? st->code : 128 + st->signal;
    }
}

std::string Vm::console() const {
    return read_or_empty(console_path());
}

std::vector<Event> Vm::events() const {
    std::vector<Event> out;
    for (const auto& line : split(read_or_empty(events_path()), '\n')) {
        if (auto e = parse_event(line)) {
            out.push_back(std::move(*e));
        }
    }
    return out;
}

Result<std::string> Vm::wait_console(std::string_view needle, Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string log = console();
        if (auto pos = log.find(needle); pos != std::string::npos) {
            size_t start = log.rfind('\n', pos);
            start = start == std::string::npos ? 0 : start + 1;
            return log.substr(start, log.find('\n', pos) - start);
        }
        poll_exit();
        if (!running()) {
            return fail(Error::msg("QEMU exited ({}) before the console showed \"{}\"", *exit_code_,
                                   needle));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return fail(Error::msg("timed out after {}ms waiting for \"{}\" on the console",
                                   timeout.count(), needle));
        }
        std::this_thread::sleep_for(kPoll);
    }
}

Result<Event> Vm::wait_event(std::string_view name, Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        for (auto& e : events()) {
            if (e.name == name) {
                return e;
            }
        }
        poll_exit();
        if (!running()) {
            return fail(Error::msg("QEMU exited ({}) before event \"{}\"", *exit_code_, name));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return fail(
                Error::msg("timed out after {}ms waiting for event \"{}\"", timeout.count(), name));
        }
        std::this_thread::sleep_for(kPoll);
    }
}

Result<int> Vm::wait_exit(Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        poll_exit();
        if (!running()) {
            return *exit_code_;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            kill();
            return fail(Error::msg("QEMU still running after {}ms; killed", timeout.count()));
        }
        std::this_thread::sleep_for(kPoll);
    }
}

Status Vm::qmp(std::string_view command) {
    Fd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return fail(Error::sys("qmp: socket"));
    }
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_un addr{.sun_family = AF_UNIX};
    std::string path = cfg_.work_dir + "/qmp.sock";
    if (path.size() >= sizeof(addr.sun_path)) {
        return fail(Error::msg("qmp: socket path too long: {}", path));
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
        return fail(Error::sys("qmp: connect {}", path));
    }
    // Greeting, then capabilities negotiation, then the command; each answers one line.
    auto read_line = [&]() -> Result<std::string> {
        std::string line;
        char c;
        while (read(sock.get(), &c, 1) == 1) {
            if (c == '\n') {
                return line;
            }
            line.push_back(c);
        }
        return fail(Error::sys("qmp: read"));
    };
    GANTRY_TRY(read_line());
    GANTRY_TRY(write_all(sock.get(), "{\"execute\":\"qmp_capabilities\"}\n"));
    GANTRY_TRY(read_line());
    GANTRY_TRY(write_all(sock.get(), fmt::format("{{\"execute\":\"{}\"}}\n", command)));
    for (int i = 0; i < 8; ++i) {  // events may arrive before the return
        auto line = GANTRY_TRY(read_line());
        if (line.find("\"return\"") != std::string::npos) {
            return ok();
        }
        if (line.find("\"error\"") != std::string::npos) {
            return fail(Error::msg("qmp {}: {}", command, line));
        }
    }
    return fail(Error::msg("qmp {}: no answer", command));
}

Status Vm::power_button() {
    return qmp("system_powerdown");
}

std::string console_tail(const std::string& console, size_t lines) {
    auto all = split(console, '\n');
    size_t from = all.size() > lines ? all.size() - lines : 0;
    std::vector<std::string> tail(all.begin() + static_cast<long>(from), all.end());
    return join(tail, "\n");
}

}  // namespace gantry::qemu
