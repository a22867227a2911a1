// Internal to the supervisor: the per-service and per-job runtime records.
#pragma once

#include <time.h>

#include <chrono>
#include <list>

#include "supervisor/supervisor.h"

namespace gantry::supervisor {

inline int64_t realtime_us() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// A running main process and the source watching it; retired together because the
// source borrows the pidfd.
struct RunningProc {
    Started started;
    Source watch;
};

// A short-lived process inside a service: a healthcheck or `gantryctl exec`.
struct Supervisor::Job {
    Unit* unit = nullptr;
    PidFd proc;
    Source watch;
    Fd out;
    Source out_src;
    Source timeout_src;
    std::string output;
    bool timed_out = false;
    ExitStatus status;
    std::function<void(Job&)> done;
    std::chrono::steady_clock::time_point began;  // before the exec, for the debug log
    Duration exec_took{};                         // of which the driver's exec (setup)
};

struct Supervisor::Unit {
    Unit(ServiceSpec s, std::string log_dir)
        : spec(std::move(s)),
          policy(Policy::from(spec)),
          log(spec.name, std::move(log_dir), spec.logging) {}

    ServiceSpec spec;
    Policy policy;
    Machine m;
    std::shared_ptr<RunningProc> proc;
    Source timer;  // the machine's one timer
    bool timer_armed = false;
    Duration timer_deadline{0};  // loop time the armed timer fires at

    FdPair out_pipe;
    FdPair err_pipe;
    Source out_src;
    Source err_src;

    std::string notify_path;
    Fd notify_fd;
    Source notify_src;
    std::string notify_status;
    Duration last_watchdog{0};
    Source watchdog_timer;  // armed while the service is up with `watchdog` set
    bool watchdog_armed = false;

    ServiceLog log;
    std::map<int, Supervisor::LineFn> log_subs;

    // Healthchecks.
    bool health_active = false;
    uint64_t health_gen = 0;  // bumped per run, so a late result of an old run is dropped
    Duration health_since{0};
    int health_failures = 0;
    Duration health_probe{0};      // the last quick-start delay; 0 once a check passed
    bool health_settling = false;  // before the first check: waiting for the service to idle
    uint64_t health_cpu_usec = 0;  // its cgroup's cpu.stat usage_usec at the last look
    std::string health_output;
    Source health_timer;
    Job* health_job = nullptr;

    std::deque<ExitRecord> history;
    uint64_t oom_base = 0;
    uint64_t oom_kills = 0;
    bool restart_after_stop = false;
    bool image_wait = false;  // waiting for an image helper run (image_fetcher.h)
};

// Before a service's first healthcheck (supervisor_io.cc): whether to run it now. `usage`
// is the cgroup's CPU time (cpu.stat usage_usec; nullopt without a cgroup), `last` the
// previous look's, updated here; `waited` the time since the service started. Yes once the
// service has run and its CPU time stood still between two looks, or after `max_wait`.
bool health_settled(std::optional<uint64_t> usage, uint64_t& last, Duration waited,
                    Duration max_wait);

}  // namespace gantry::supervisor
