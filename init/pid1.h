// The PID-1-only parts of gantry-init around the supervisor (docs/os-image.md):
//   boot()         mounts, cgroup controllers, early modules, the event port, "pid1"
//   mount_config_drive / unmount_config_drive   around the config loader ("config-drive")
//   config_loaded  "config" (and "failed" + the errors on the console when refused)
//   apply_kernel   the config's kernel.modules and kernel.sysctl ("kernel")
//   start_helpers  the late helper (network, late modules) and the gantry.ctl bridge
//   attach()       ACPI power button, readiness watch
// main.cc calls these; everything else lives here so the PID 1 path stays a few
// lines in main. Host mode (--host-mode) uses none of it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "base/fd.h"
#include "init/config_drive.h"
#include "init/helper_reports.h"
#include "init/kernel_settings.h"
#include "init/machine.h"
#include "init/net_static.h"
#include "init/pid1_events.h"

namespace gantry::supervisor {
class Supervisor;
}

namespace gantry::init {

class Pid1 {
  public:
    // Steps 1-5 of early boot; never fails (what is missing is logged and reported).
    static std::unique_ptr<Pid1> boot();
    ~Pid1();

    const std::vector<MountStep>& mounts() const { return mounts_; }
    const EventChannel& events() const { return events_; }

    // Finds the config drive and mounts it (init/config_drive.h); problems go to the console
    // and the event channel. Returns the mount points for the loader: none or one.
    std::vector<std::string> mount_config_drive(const std::string& mount_root);
    // Once the loader has read it.
    void unmount_config_drive();
    struct DriveState {
        std::optional<DriveCandidate> drive;  // the one used, if any
        std::string dir;                      // where it was mounted; "" if it was not
        std::vector<std::string> problems;    // unreadable devices, ignored drives, mount errors
    };
    const DriveState& config_drive() const { return drive_; }

    // `error` empty: the config was read from `source` and has `services` services.
    void config_loaded(const std::string& source, size_t services, const std::string& error);

    // The config's kernel section; failures go to the console and as "kernel-error" events.
    KernelReport apply_kernel(const std::vector<std::string>& modules,
                              const std::map<std::string, std::string>& sysctl);

    // Forks PID 1's helpers: the late helper (network.interfaces in `links`, then the late
    // modules; it releases the supervisor's hold on host-network services,
    // Supervisor::hold_host_network) and the gantry.ctl bridge. Call before any thread
    // starts (discovery's worker): the helpers are forks that run code, and a lock held by
    // another thread at fork time (the log's) would stay held in them forever.
    Status start_helpers(EventLoop& loop, supervisor::Supervisor& sup,
                         const std::string& api_socket, const std::vector<LinkStep>& links);

    // Hooks PID 1 into the running loop. Call before start_all(): the readiness watch
    // must see the first state changes. `shutdown` starts a clean poweroff or reboot.
    Status attach(EventLoop& loop, supervisor::Supervisor& sup,
                  std::function<void(FinalAction)> shutdown);

  private:
    Pid1() = default;
    void check_ready();
    void watch_power_button();

    std::vector<MountStep> mounts_;
    EventChannel events_;
    DriveState drive_;
    EventLoop* loop_ = nullptr;
    supervisor::Supervisor* sup_ = nullptr;
    std::function<void(FinalAction)> shutdown_;
    std::vector<Fd> fds_;
    std::vector<Source> sources_;
    int sub_ = 0;
    std::unique_ptr<HelperReports> late_;  // the late helper's reports (start_helpers)
    bool started_ = false;
    bool ready_ = false;
    bool failed_ = false;
};

// Forks a helper process of PID 1 that runs `fn` and exits. Helpers do blocking work
// (module loading, the ctl byte pump) off the event loop; they get default signal
// dispositions, and PID 1's orphan reaper collects them. Returns the pid, or -1.
pid_t spawn_helper(const char* name, std::function<void()> fn);

// The gantry.ctl port <-> the API socket, one host client at a time. Runs forever.
void run_ctl_bridge(const std::string& api_socket);

}  // namespace gantry::init
