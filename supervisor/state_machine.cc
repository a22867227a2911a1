#include "supervisor/state_machine.h"

#include <algorithm>

namespace gantry::supervisor {

Policy Policy::from(const ServiceSpec& spec) {
    Policy p;
    p.restart = spec.restart;
    p.max_retries = spec.max_retries;
    p.type = spec.type;
    p.notify = spec.notify;
    p.has_health = spec.healthcheck.has_value();
    p.stop_grace = spec.stop_grace_period;
    p.start_timeout = spec.notify ? spec.start_timeout : Duration(0);
    p.watchdog = spec.notify ? spec.watchdog : Duration(0);
    p.backoff = spec.backoff;
    p.start_limit = spec.start_limit;
    return p;
}

bool wants_restart(const Policy& p, const ExitStatus& status) {
    switch (p.restart) {
        case RestartPolicy::No:
            return false;
        case RestartPolicy::OnFailure:
            return !status.success();
        case RestartPolicy::Always:
        case RestartPolicy::UnlessStopped:
            return true;
    }
    return false;
}

Duration next_delay(const Policy& p, Duration previous, Duration started_at, Duration now) {
    // A run that stayed up for reset_after was healthy enough: forget earlier failures.
    if (previous <= Duration(0) || now - started_at >= p.backoff.reset_after) {
        return p.backoff.initial;
    }
    Duration doubled = previous * 2;
    return std::min(std::max(doubled, p.backoff.initial), p.backoff.max);
}

bool is_up(State s) {
    return s == State::Starting || s == State::Running || s == State::Healthy ||
           s == State::Unhealthy || s == State::Stopping;
}

namespace {

void record_start(Machine& m, Duration now) {
    m.failure.clear();
    m.started_at = now;
    m.starts.push_back(now);
}

void prune_starts(Machine& m, const Policy& p, Duration now) {
    while (!m.starts.empty() && now - m.starts.front() >= p.start_limit.interval) {
        m.starts.pop_front();
    }
}

// The main process is gone and nobody asked for that: decide between exited, failed and
// a restart after a backoff delay. `forced_failure`: the supervisor stopped it for failing
// (start timeout, watchdog), so even a clean exit after the stop signal is a failure, as
// systemd's "timeout" and "watchdog" results are.
void after_exit(Transition& t, const Policy& p, const ExitStatus& status, bool oom,
                const std::string& detail, Duration now, bool forced_failure = false) {
    Machine& m = t.next;
    std::string what = !detail.empty() ? detail : oom ? "OOM-killed" : status.str();
    const bool success = status.success() && !forced_failure;
    if (p.type == ServiceType::Oneshot && success) {
        m.state = State::Exited;
        m.reason = "completed";
        return;
    }
    bool restart = forced_failure ? p.restart != RestartPolicy::No : wants_restart(p, status);
    if (!restart) {
        m.state = success ? State::Exited : State::Failed;
        m.reason = what;
        return;
    }
    if (p.restart == RestartPolicy::OnFailure && p.max_retries > 0 && m.restarts >= p.max_retries) {
        m.state = State::Failed;
        m.reason = fmt::format("{}; gave up after {} restarts (on-failure:{})", what, m.restarts,
                               p.max_retries);
        return;
    }
    prune_starts(m, p, now);
    if (p.start_limit.burst > 0 && static_cast<int>(m.starts.size()) >= p.start_limit.burst) {
        m.state = State::Failed;
        m.reason = fmt::format("{}; start limit hit: {} starts within {}", what, m.starts.size(),
                               format_duration(p.start_limit.interval));
        return;
    }
    m.delay = next_delay(p, m.delay, m.started_at, now);
    m.restarts++;
    m.state = State::Backoff;
    m.reason = fmt::format("{}; restarting in {}", what, format_duration(m.delay));
    t.actions.push_back({ActionKind::ArmTimer, m.delay});
}

void fresh_start(Machine& m) {
    m.restarts = 0;
    m.delay = Duration(0);
    m.starts.clear();
    m.stop_wanted = false;
}

void begin_stop(Transition& t, const Policy& p, bool health_running) {
    t.next.state = State::Stopping;
    t.next.stop_wanted = true;
    t.next.killed = false;
    t.next.failure.clear();
    t.next.reason = "stop requested";
    if (health_running) {
        t.actions.push_back({ActionKind::StopHealth});
    }
    if (p.watchdog > Duration(0)) {
        t.actions.push_back({ActionKind::StopWatchdog});
    }
    t.actions.push_back({ActionKind::SendStop});
    t.actions.push_back({ActionKind::ArmTimer, p.stop_grace});
}

// The supervisor stops a service that failed while up: with `signal` (0 = its stop
// signal), SIGKILL after the grace period, then the restart policy as for a crash.
void begin_failure_stop(Transition& t, const Policy& p, bool health_running, std::string why,
                        int signal) {
    t.next.state = State::Stopping;
    t.next.killed = false;
    t.next.failure = why;
    t.next.reason = std::move(why);
    if (health_running) {
        t.actions.push_back({ActionKind::StopHealth});
    }
    if (p.watchdog > Duration(0)) {
        t.actions.push_back({ActionKind::StopWatchdog});
    }
    t.actions.push_back({ActionKind::SendStop, Duration(0), signal});
    t.actions.push_back({ActionKind::ArmTimer, p.stop_grace});
}

// Leaving an up state because the process ended: timers of the run go.
void end_of_run(Transition& t, const Policy& p, bool start_timer_armed) {
    if (start_timer_armed) {
        t.actions.push_back({ActionKind::CancelTimer});
    }
    if (p.watchdog > Duration(0)) {
        t.actions.push_back({ActionKind::StopWatchdog});
    }
}

}  // namespace

Transition step(const Machine& m, const Policy& p, const Event& e, Duration now) {
    Transition t{m, {}, true};
    Machine& n = t.next;
    const bool health_running =
        p.has_health &&
        (m.state == State::Running || m.state == State::Healthy || m.state == State::Unhealthy);
    switch (m.state) {
        case State::Waiting:
            if (e.kind == EventKind::DepsReady) {
                n.state = State::Starting;
                n.reason.clear();
                record_start(n, now);
                t.actions.push_back({ActionKind::Spawn});
                return t;
            }
            if (e.kind == EventKind::StopRequested) {
                n.state = State::Exited;
                n.stop_wanted = true;
                n.reason = "stopped before it started";
                return t;
            }
            if (e.kind == EventKind::StartRequested) {
                fresh_start(n);
                t.actions.push_back({ActionKind::CheckDeps});
                return t;
            }
            if (e.kind == EventKind::SpawnFailed) {
                // The image helper failed while the service waited for its image: a failed
                // start, so the restart policy and backoff decide what comes next.
                record_start(n, now);
                after_exit(t, p, ExitStatus{ExitStatus::Kind::Exited, 127, 0}, false, e.detail,
                           now);
                return t;
            }
            break;
        case State::Starting: {
            const bool start_timer = p.notify && p.start_timeout > Duration(0);
            if (e.kind == EventKind::Spawned) {
                if (p.watchdog > Duration(0)) {
                    t.actions.push_back({ActionKind::ArmWatchdog});
                }
                if (p.notify) {
                    n.reason = "waiting for READY=1";
                    if (start_timer) {
                        t.actions.push_back({ActionKind::ArmTimer, p.start_timeout});
                    }
                    return t;
                }
                n.state = State::Running;
                n.reason.clear();
                if (p.has_health) {
                    t.actions.push_back({ActionKind::StartHealth});
                }
                return t;
            }
            if (e.kind == EventKind::Ready) {
                n.state = State::Running;
                n.reason.clear();
                if (start_timer) {
                    t.actions.push_back({ActionKind::CancelTimer});
                }
                if (p.has_health) {
                    t.actions.push_back({ActionKind::StartHealth});
                }
                return t;
            }
            if (e.kind == EventKind::TimerFired && start_timer) {
                // systemd's TimeoutStartSec for Type=notify: stop signal, then SIGKILL.
                begin_failure_stop(
                    t, p, false,
                    fmt::format("no READY=1 within {}", format_duration(p.start_timeout)), 0);
                return t;
            }
            if (e.kind == EventKind::WatchdogExpired) {
                begin_failure_stop(t, p, false, e.detail, SIGABRT);
                return t;
            }
            if (e.kind == EventKind::SpawnFailed || e.kind == EventKind::Exited) {
                ExitStatus st = e.kind == EventKind::Exited
                                    ? e.status
                                    : ExitStatus{ExitStatus::Kind::Exited, 127, 0};
                if (e.kind == EventKind::Exited) {
                    end_of_run(t, p, start_timer);
                }
                after_exit(t, p, st, e.oom, e.kind == EventKind::SpawnFailed ? e.detail : "", now);
                return t;
            }
            if (e.kind == EventKind::StopRequested) {
                begin_stop(t, p, false);
                return t;
            }
            if (e.kind == EventKind::ImagePending) {
                // Nothing was spawned: back to waiting (for the image helper), and this
                // start does not count until it happens (the failure counts, see Waiting).
                n.state = State::Waiting;
                n.reason = e.detail;
                if (!n.starts.empty()) {
                    n.starts.pop_back();
                }
                return t;
            }
            break;
        }
        case State::Running:
        case State::Healthy:
        case State::Unhealthy:
            if (e.kind == EventKind::HealthOk) {
                n.state = State::Healthy;
                n.reason.clear();
                t.changed = m.state != State::Healthy;
                return t;
            }
            if (e.kind == EventKind::HealthFail) {
                n.state = State::Unhealthy;
                n.reason = e.detail.empty() ? "healthcheck failing" : e.detail;
                return t;
            }
            if (e.kind == EventKind::Exited) {
                if (health_running) {
                    t.actions.push_back({ActionKind::StopHealth});
                }
                end_of_run(t, p, false);
                after_exit(t, p, e.status, e.oom, "", now);
                return t;
            }
            if (e.kind == EventKind::StopRequested) {
                begin_stop(t, p, health_running);
                return t;
            }
            if (e.kind == EventKind::WatchdogExpired) {
                // systemd's WatchdogSignal= default: SIGABRT (a core dump shows the hang).
                begin_failure_stop(t, p, health_running, e.detail, SIGABRT);
                return t;
            }
            break;
        case State::Stopping:
            if (e.kind == EventKind::TimerFired && !m.killed) {
                n.killed = true;
                n.reason = fmt::format("did not stop within {}; sent SIGKILL",
                                       format_duration(p.stop_grace));
                t.actions.push_back({ActionKind::SendKill});
                return t;
            }
            if (e.kind == EventKind::Exited && !m.failure.empty() && !m.stop_wanted) {
                t.actions.push_back({ActionKind::CancelTimer});
                after_exit(t, p, e.status, e.oom,
                           fmt::format("{} ({})", m.failure, e.oom ? "OOM-killed" : e.status.str()),
                           now, true);
                return t;
            }
            if (e.kind == EventKind::Exited) {
                n.state = State::Exited;
                n.reason = fmt::format("stopped ({})", e.oom ? "OOM-killed" : e.status.str());
                t.actions.push_back({ActionKind::CancelTimer});
                return t;
            }
            if (e.kind == EventKind::StopRequested && !m.failure.empty() && !m.stop_wanted) {
                // Stopping for a failure, and now a person wants it down: no restart after.
                n.stop_wanted = true;
                return t;
            }
            break;
        case State::Backoff:
            if (e.kind == EventKind::TimerFired) {
                n.state = State::Starting;
                n.reason.clear();
                record_start(n, now);
                t.actions.push_back({ActionKind::Spawn});
                return t;
            }
            if (e.kind == EventKind::StopRequested) {
                n.state = State::Exited;
                n.stop_wanted = true;
                n.reason = "stopped";
                t.actions.push_back({ActionKind::CancelTimer});
                return t;
            }
            if (e.kind == EventKind::StartRequested) {
                n.state = State::Waiting;
                fresh_start(n);
                t.actions.push_back({ActionKind::CancelTimer});
                t.actions.push_back({ActionKind::CheckDeps});
                return t;
            }
            break;
        case State::Exited:
        case State::Failed:
            if (e.kind == EventKind::StartRequested) {
                n.state = State::Waiting;
                n.reason.clear();
                fresh_start(n);
                t.actions.push_back({ActionKind::CheckDeps});
                return t;
            }
            break;
    }
    // Everything else is ignored on purpose: a late Ready, a HealthOk racing an exit, a
    // second stop. The table in docs/supervisor.md lists these as "-".
    t.changed = false;
    return t;
}

std::string_view to_string(State s) {
    switch (s) {
        case State::Waiting:
            return "waiting";
        case State::Starting:
            return "starting";
        case State::Running:
            return "running";
        case State::Healthy:
            return "healthy";
        case State::Unhealthy:
            return "unhealthy";
        case State::Stopping:
            return "stopping";
        case State::Exited:
            return "exited";
        case State::Failed:
            return "failed";
        case State::Backoff:
            return "backoff";
    }
    return "?";
}

std::string_view to_string(EventKind k) {
    switch (k) {
        case EventKind::DepsReady:
            return "deps_ready";
        case EventKind::Spawned:
            return "spawned";
        case EventKind::SpawnFailed:
            return "spawn_failed";
        case EventKind::ImagePending:
            return "image_pending";
        case EventKind::Ready:
            return "ready";
        case EventKind::HealthOk:
            return "health_ok";
        case EventKind::HealthFail:
            return "health_fail";
        case EventKind::Exited:
            return "exited";
        case EventKind::StopRequested:
            return "stop_requested";
        case EventKind::StartRequested:
            return "start_requested";
        case EventKind::TimerFired:
            return "timer";
        case EventKind::WatchdogExpired:
            return "watchdog";
    }
    return "?";
}

}  // namespace gantry::supervisor
