// The per-service lifecycle as data: step(machine, policy, event, now) -> {machine, actions}.
//
// Pure: no clocks, no syscalls. The supervisor feeds events from the event loop and
// carries out the actions (s6-supervise's actions[state][event] table, systemd's
// service_enter_* functions). Every transition is listed in docs/supervisor.md and
// covered by supervisor/tests/state_machine_test.cc.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/pidfd.h"
#include "base/units.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

// States a user reads in `gantryctl ps`.
enum class State {
    Waiting,    // for dependencies (or never started)
    Starting,   // spawned, waiting for READY=1 (notify services)
    Running,    // up; no healthcheck verdict yet (or none configured)
    Healthy,    // up and the last healthcheck passed
    Unhealthy,  // up and `retries` healthchecks failed in a row
    Stopping,   // stop signal sent, waiting for exit (SIGKILL after the grace period)
    Exited,     // down on purpose: finished, stopped, or no restart wanted after success
    Failed,     // down for good: failed with no restart left, or start limit hit
    Backoff,    // down, restart timer armed
};

enum class EventKind {
    DepsReady,        // every depends_on condition holds
    Spawned,          // the driver started the process
    SpawnFailed,      // the driver could not start it, or its image could not be had (detail)
    ImagePending,     // at spawn, the image is not ready: wait for the image helper (detail)
    Ready,            // READY=1 from the notify socket
    HealthOk,         // a healthcheck passed
    HealthFail,       // `retries` healthchecks failed in a row
    Exited,           // the main process ended (status, oom)
    StopRequested,    // gantryctl stop, shutdown, or restart's first half
    StartRequested,   // gantryctl start
    TimerFired,       // the one timer of the machine: backoff delay, start timeout or stop grace
    WatchdogExpired,  // no WATCHDOG=1 within `watchdog`, or WATCHDOG=trigger (detail says which)
};

struct Event {
    EventKind kind;
    ExitStatus status{};  // Exited
    bool oom = false;     // Exited: the kernel OOM-killed it (memory.events oom_kill grew)
    std::string detail;   // SpawnFailed: the error; WatchdogExpired: what happened
};

enum class ActionKind {
    Spawn,         // start the process (deps are known to hold)
    SendStop,      // send the stop signal (or `signal` when set) to the service
    SendKill,      // SIGKILL the whole service
    ArmTimer,      // (re)arm the machine's timer for `delay`
    CancelTimer,   // disarm it
    StartHealth,   // begin healthchecks
    StopHealth,    // stop healthchecks
    CheckDeps,     // evaluate depends_on again; the supervisor answers with DepsReady
    ArmWatchdog,   // start the watchdog timer (`watchdog`); WATCHDOG=1 re-arms it
    StopWatchdog,  // disarm it
};

struct Action {
    ActionKind kind;
    Duration delay{0};
    int signal = 0;  // SendStop: 0 = the service's stop signal
    bool operator==(const Action&) const = default;
};

// What the machine needs from the spec.
struct Policy {
    RestartPolicy restart = RestartPolicy::No;
    int max_retries = 0;
    ServiceType type = ServiceType::Simple;
    bool notify = false;
    bool has_health = false;
    Duration stop_grace = 10s;
    // notify services only: no READY=1 within this is a failure (systemd TimeoutStartSec).
    // 0 = wait forever.
    Duration start_timeout{0};
    // 0 = no watchdog; else WATCHDOG=1 is expected at least this often (WatchdogSec).
    Duration watchdog{0};
    Backoff backoff;
    StartLimit start_limit;

    static Policy from(const ServiceSpec& spec);
};

struct Machine {
    State state = State::Waiting;
    int restarts = 0;             // automatic restarts since the last start by a person
    Duration delay{0};            // the last backoff delay; 0 before the first restart
    Duration started_at{0};       // when the current run was spawned
    std::deque<Duration> starts;  // spawn times within the start-limit interval
    bool stop_wanted = false;     // a person (or shutdown) wants it down
    bool killed = false;          // SIGKILL was sent in this stop
    // Set when the supervisor itself stops the service because it failed (start timeout,
    // watchdog): the exit then counts as a failure and the restart policy applies.
    std::string failure;
    std::string reason;  // why it is in this state, for `ps`/`inspect`
};

struct Transition {
    Machine next;
    std::vector<Action> actions;
    bool changed = false;  // state differs, or the event was not ignored
};

Transition step(const Machine& m, const Policy& p, const Event& e, Duration now);

// True when the policy restarts after this exit (ignores limits and backoff).
bool wants_restart(const Policy& p, const ExitStatus& status);
// The next backoff delay after a run that began at `started_at` and ended at `now`.
Duration next_delay(const Policy& p, Duration previous, Duration started_at, Duration now);

std::string_view to_string(State s);
std::string_view to_string(EventKind k);
// Up: a process exists (starting, running, healthy, unhealthy, stopping).
bool is_up(State s);

}  // namespace gantry::supervisor
