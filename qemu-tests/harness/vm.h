// A QEMU virtual machine booting a Gantry OS image, for tests, `gantryctl vm` and the boot
// benchmark. Software emulation only (-accel tcg): KVM hangs on the machines this runs on.
//
// The VM's outputs are files in its work dir, so a failed case leaves everything behind:
//   console.log  the serial console (ttyS0)
//   events.log   JSON lines the guest writes to the virtio-serial port "gantry.events"
//   qemu.log     QEMU's own stderr
//   qmp.sock     QMP, for the ACPI power button and a hard quit
//   ctl.sock     the virtio-serial port "gantry.ctl" as a unix socket (the guest API)
// Every wait takes a timeout; the destructor kills a QEMU that is still running.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/pidfd.h"

namespace gantry::qemu {

using Duration = std::chrono::milliseconds;

struct PortForward {
    uint16_t host = 0;
    uint16_t guest = 0;
};

struct VmConfig {
    std::string qemu = "qemu-system-x86_64";
    std::string image_dir;           // holds vmlinuz and initramfs.cpio.zst
    std::string work_dir;            // logs and sockets; created
    std::string config_file;         // passed as fw_cfg opt/gantry/config ("" for none)
    std::vector<std::string> disks;  // raw images, attached as virtio disks vda, vdb ...
    std::vector<PortForward> ports;  // hostfwd on 127.0.0.1 only; implies a NIC
    bool network = false;            // a virtio NIC with QEMU user networking
    std::string append;              // extra kernel command line
    int memory_mb = 512;
    int cpus = 1;
    std::vector<std::string> extra_args;  // appended to QEMU's argv (bench: -icount)
};

// One line from the event channel: {"event": NAME, "t": SECONDS, ...}.
struct Event {
    std::string name;
    double t = 0;      // CLOCK_BOOTTIME in the guest
    std::string json;  // the whole line
};

// Parses one event line; nullopt for anything that is not an object with "event".
std::optional<Event> parse_event(std::string_view line);

// The qemu-system-x86_64 argument vector for `cfg` (exposed for tests and --dry-run).
std::vector<std::string> qemu_argv(const VmConfig& cfg);

class Vm {
  public:
    static Result<Vm> start(const VmConfig& cfg);
    Vm(Vm&&) = default;
    Vm& operator=(Vm&&) = default;
    ~Vm();

    // Waits until the console log contains `needle`; returns the line holding it.
    Result<std::string> wait_console(std::string_view needle, Duration timeout);
    // Waits for the first event called `name`.
    Result<Event> wait_event(std::string_view name, Duration timeout);
    // Waits for QEMU to exit; its exit code.
    Result<int> wait_exit(Duration timeout);
    // ACPI power button (QMP system_powerdown): what a cloud's "stop" sends.
    Status power_button();
    // Kills QEMU at once (SIGKILL) and reaps it.
    void kill();

    // Reaps QEMU if it has exited; never blocks. A kernel panic shows on the console, not
    // in the exit code (-no-reboot turns the panic=-1 reboot into a clean exit).
    void poll_exit();
    bool running() const { return !exit_code_.has_value(); }
    std::string console() const;
    std::vector<Event> events() const;
    const VmConfig& config() const { return cfg_; }
    std::string console_path() const { return cfg_.work_dir + "/console.log"; }
    std::string events_path() const { return cfg_.work_dir + "/events.log"; }
    std::string ctl_socket() const { return cfg_.work_dir + "/ctl.sock"; }

  private:
    Vm() = default;
    Status qmp(std::string_view command);

    VmConfig cfg_;
    PidFd proc_;
    std::optional<int> exit_code_;
};

// Why a run failed, for a test message: the reason plus the last console lines.
std::string console_tail(const std::string& console, size_t lines = 25);

}  // namespace gantry::qemu
