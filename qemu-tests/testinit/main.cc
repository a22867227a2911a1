// gantry-testinit: a tiny static PID 1 for developing the QEMU harness before gantry-init
// does early boot. It does what the harness checks and nothing else:
//   1. mount /proc, /sys, /dev (devtmpfs)
//   2. load the modules in /etc/gantry/modules      -> "GANTRY-TEST: pid1", "... modules"
//   3. read the fw_cfg config opt/gantry/config     -> "GANTRY-TEST: config"
//      load /etc/gantry/modules.late                -> "GANTRY-TEST: modules-late"
//   4. report ready                                 -> "GANTRY-TEST: ready"
//   5. power off; with gantry.testinit.hold on the cmdline, first wait for the ACPI
//      power button                              -> "GANTRY-TEST: power-button"
// Each step prints a console sentinel and writes one JSON line to the virtio-serial port
// named gantry.events, both stamped with CLOCK_BOOTTIME (time since the kernel started).
#include <dirent.h>
#include <fcntl.h>
#include <linux/input.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "qemu-tests/testinit/modules.h"

namespace {

using gantry::testinit::load_modules;
using gantry::testinit::parse_module_list;

int g_events = -1;

double boottime() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

bool read_file(const char* path, std::string& out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    out.clear();
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return n == 0;
}

void write_str(int fd, const std::string& s) {
    size_t off = 0;
    while (fd >= 0 && off < s.size()) {
        ssize_t n = write(fd, s.data() + off, s.size() - off);
        if (n <= 0) {
            return;
        }
        off += static_cast<size_t>(n);
    }
}

// `fields` are preformatted: console gets `k=v` pairs, the event channel a JSON object.
void report(const char* event, const std::string& console_fields, const std::string& json_fields,
            double t = boottime()) {
    char ts[32];
    std::snprintf(ts, sizeof(ts), "%.3f", t);
    write_str(1, std::string("GANTRY-TEST: ") + event + (console_fields.empty() ? "" : " ") +
                     console_fields + " t=" + ts + "\n");
    write_str(g_events, std::string("{\"event\":\"") + event + "\",\"t\":" + ts +
                            (json_fields.empty() ? "" : ",") + json_fields + "}\n");
}

// The port shows up as /dev/vportNpM; its name is in sysfs (udev would make the
// /dev/virtio-ports/NAME link, but there is no udev here).
int open_event_port() {
    for (int attempt = 0; attempt < 40; ++attempt) {
        if (DIR* d = opendir("/sys/class/virtio-ports")) {
            while (dirent* e = readdir(d)) {
                std::string name;
                std::string base = std::string("/sys/class/virtio-ports/") + e->d_name;
                if (e->d_name[0] != '.' && read_file((base + "/name").c_str(), name) &&
                    name.rfind("gantry.events", 0) == 0) {
                    int fd = open((std::string("/dev/") + e->d_name).c_str(),
                                  O_WRONLY | O_CLOEXEC | O_NOCTTY);
                    if (fd >= 0) {
                        closedir(d);
                        return fd;
                    }
                }
            }
            closedir(d);
        }
        usleep(50 * 1000);
    }
    return -1;
}

void mount_early() {
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

void report_modules(const char* event, const gantry::testinit::ModuleLoadResult& r) {
    for (const auto& f : r.failed) {
        write_str(1, "GANTRY-TEST: module-failed " + f + "\n");
    }
    std::string loaded = std::to_string(r.loaded), failed = std::to_string(r.failed.size());
    report(event, "loaded=" + loaded + " failed=" + failed,
           "\"loaded\":" + loaded + ",\"failed\":" + failed);
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) >= 0x20) {
            out.push_back(c);
        }
    }
    return out;
}

// gantry.testinit.run=PATH[,ARG...]: runs one program from the image and reports its exit
// code, so a case can prove a dynamic binary finds its loader and libraries in the image.
void run_from_cmdline(const std::string& cmdline) {
    const std::string key = "gantry.testinit.run=";
    size_t pos = cmdline.find(key);
    if (pos == std::string::npos) {
        return;
    }
    size_t end = cmdline.find_first_of(" \n", pos);
    std::string spec = cmdline.substr(pos + key.size(), end - pos - key.size());
    std::vector<std::string> args;
    for (size_t s = 0; s <= spec.size();) {
        size_t c = spec.find(',', s);
        c = c == std::string::npos ? spec.size() : c;
        args.push_back(spec.substr(s, c - s));
        s = c + 1;
    }
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int code = pid < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    report("run", "path=" + args[0] + " exit=" + std::to_string(code),
           "\"path\":\"" + json_escape(args[0]) + "\",\"exit\":" + std::to_string(code));
}

// The ACPI power button is an input device named "Power Button" (drivers/acpi/button.c);
// a press is EV_KEY/KEY_POWER with value 1. Reference for gantry-init's shutdown trigger.
// It is opened before `ready`: the harness presses the button as soon as it sees `ready`,
// and evdev queues only what arrives while a reader has the device open.
int open_power_button() {
    int fd = -1;
    if (DIR* d = opendir("/sys/class/input")) {
        while (dirent* e = readdir(d)) {
            std::string name;
            std::string base = std::string("/sys/class/input/") + e->d_name;
            if (std::strncmp(e->d_name, "event", 5) == 0 &&
                read_file((base + "/device/name").c_str(), name) &&
                name.rfind("Power Button", 0) == 0) {
                fd = open((std::string("/dev/input/") + e->d_name).c_str(), O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    break;
                }
            }
        }
        closedir(d);
    }
    return fd;
}

void wait_for_power_button(int fd) {
    if (fd < 0) {
        write_str(1, "GANTRY-TEST: no power button device; holding forever\n");
        for (;;) {
            pause();
        }
    }
    input_event ev{};
    while (read(fd, &ev, sizeof(ev)) == static_cast<ssize_t>(sizeof(ev)) || errno == EINTR) {
        if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
            break;
        }
    }
    close(fd);
}

}  // namespace

int main() {
    // The kernel gave us /dev/console on fds 0-2 from the initramfs's device node.
    double t_pid1 = boottime();
    mount_early();

    std::string list;
    read_file("/etc/gantry/modules", list);
    auto loaded = load_modules(parse_module_list(list));
    g_events = open_event_port();
    // The event port needs virtio_console, so PID 1's start is reported now, with its time.
    report("pid1", "", "", t_pid1);
    report_modules("modules", loaded);

    std::string config;
    if (read_file("/sys/firmware/qemu_fw_cfg/by_name/opt/gantry/config/raw", config)) {
        std::string sha = gantry::sha256_hex(config);
        std::string n = std::to_string(config.size());
        report("config", "bytes=" + n + " sha256=" + sha,
               "\"bytes\":" + n + ",\"sha256\":\"" + sha + "\"");
    } else {
        report("config", "none", "\"bytes\":-1");
    }

    // What containers need (file systems, networking): gantry-init can load these while
    // services start; the test init loads them before it says ready so the boot check
    // covers every module the image ships.
    read_file("/etc/gantry/modules.late", list);
    report_modules("modules-late", load_modules(parse_module_list(list)));

    std::string cmdline;
    read_file("/proc/cmdline", cmdline);
    bool hold = cmdline.find("gantry.testinit.hold") != std::string::npos;
    int button = hold ? open_power_button() : -1;
    std::string release;
    read_file("/proc/sys/kernel/osrelease", release);
    while (!release.empty() && release.back() == '\n') {
        release.pop_back();
    }
    report("ready", "kernel=" + release, "\"kernel\":\"" + json_escape(release) + "\"");

    run_from_cmdline(cmdline);

    if (hold) {
        // Stay up (for `gantryctl vm up` and the power button case) until the ACPI power
        // button is pressed; without a button device, forever.
        wait_for_power_button(button);
        report("power-button", "", "");
    }
    report("poweroff", "", "");
    sync();
    reboot(RB_POWER_OFF);
    // Only reached if the power-off failed; PID 1 must not exit (that panics the kernel).
    for (;;) {
        pause();
    }
}
