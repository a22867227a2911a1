// The supervisor's I/O paths: service output, sd_notify datagrams, healthchecks and
// `exec` jobs. Each read is bounded per wakeup so one busy service cannot starve the
// loop: epoll is level-triggered, so whatever is left is read on a later iteration,
// after other sources (the API socket among them) had their turn.
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include "base/fd.h"
#include "base/log.h"
#include "supervisor/driver.h"
#include "supervisor/notify.h"
#include "supervisor/unit.h"

namespace gantry::supervisor {

namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr int kMaxChunksPerWakeup = 4;
constexpr size_t kMaxJobOutput = 1 << 20;
constexpr int kMaxDatagramsPerWakeup = 16;

// Reads what is available, at most `chunks` reads; false at EOF or error.
bool read_some(int fd, int chunks, const std::function<void(std::string_view)>& sink) {
    char buf[kReadChunk];
    for (int i = 0; i < chunks; ++i) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            sink(std::string_view(buf, static_cast<size_t>(n)));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        return false;  // EOF or a real error
    }
    return true;
}

}  // namespace

void Supervisor::on_output(Unit& u, Stream s) {
    int fd = s == Stream::Stdout ? u.out_pipe.read.get() : u.err_pipe.read.get();
    int64_t now = realtime_us();
    read_some(fd, kMaxChunksPerWakeup, [&](std::string_view data) { u.log.feed(s, data, now); });
}

void Supervisor::on_notify(Unit& u) {
    for (int i = 0; i < kMaxDatagramsPerWakeup; ++i) {
        auto d = receive_notify(u.notify_fd.get());
        if (!d) {
            log::warn("notify socket read failed",
                      {{"service", u.spec.name}, {"error", d.error().str()}});
            return;
        }
        if (!*d) {
            return;
        }
        if (!u.proc || !driver_.owns(u.proc->started, (*d)->sender)) {
            log::warn("notify message from a process outside the service ignored",
                      {{"service", u.spec.name}, {"sender", (*d)->sender}});
            continue;
        }
        NotifyMessage m = parse_notify((*d)->data);
        if (m.status) {
            u.notify_status = *m.status;
        }
        if (m.watchdog) {
            u.last_watchdog = loop_.now();
            if (u.watchdog_armed) {
                (void)u.watchdog_timer.rearm(u.policy.watchdog);
            }
        }
        if (m.extend_timeout) {
            extend_timer(u, *m.extend_timeout);
        }
        if (m.ready) {
            feed(u, {EventKind::Ready});
        }
        if (m.watchdog_trigger) {
            // sd_notify(3): "WATCHDOG=trigger" asks for the watchdog action at once, with
            // or without WatchdogSec; the machine ignores it unless the service is up.
            u.watchdog_armed = false;
            feed(u, {EventKind::WatchdogExpired,
                     {},
                     false,
                     "watchdog triggered by the service (WATCHDOG=trigger)"});
        }
    }
}

// sd_notify(3) EXTEND_TIMEOUT_USEC: while starting (start_timeout) or stopping (the
// grace period before SIGKILL) the service may push the deadline out to `now + extra`;
// it never pulls it in, so the configured time always holds at least. Other states have
// no timeout of the service's own (the backoff timer is the supervisor's), so the message
// is ignored there.
void Supervisor::extend_timer(Unit& u, Duration extra) {
    const bool phase =
        u.m.state == State::Starting || (u.m.state == State::Stopping && !u.m.killed);
    if (!phase || !u.timer_armed) {
        return;
    }
    Duration now = loop_.now();
    if (now + extra <= u.timer_deadline) {
        return;
    }
    u.timer_deadline = now + extra;
    (void)u.timer.rearm(extra);
    log::info("timeout extended by the service", {{"service", u.spec.name},
                                                  {"state", std::string(to_string(u.m.state))},
                                                  {"extend", format_duration(extra)}});
}

namespace {

// Until the first check passes, checks come quicker than `interval`: the first as soon as
// the service has gone idle (at most 50 ms after start, below), then after 50 ms, 100 ms,
// 200 ms ... up to `interval` (Kubernetes probes right
// away too; Docker waits a whole interval, so a service healthy in 50 ms would look
// starting for 30 s). Failed quick checks within the first interval do not count, so a
// slow starter is not marked unhealthy sooner than with the plain cadence.
constexpr Duration kFirstProbe = std::chrono::milliseconds(50);

Duration next_probe(Duration last, Duration interval) {
    Duration next = last <= Duration(0) ? kFirstProbe : last * 2;
    return std::min(next, interval);
}

// The first check waits for the service to go idle, looking at its cgroup's CPU time every
// 5 ms for at most kFirstProbe: a check right at start competes for the CPU with the
// service it checks (on one CPU it slows the start and almost always fails; under QEMU's
// TCG each costs 30-70 ms), while one made once the service sits waiting mostly passes.
constexpr Duration kSettlePoll = std::chrono::milliseconds(5);

std::optional<uint64_t> cpu_usage_usec(const std::string& cgroup) {
    if (cgroup.empty()) {
        return std::nullopt;
    }
    auto text = read_file(cgroup + "/cpu.stat");
    return text ? parse_events_counter(*text, "usage_usec") : std::nullopt;
}

}  // namespace

bool health_settled(std::optional<uint64_t> usage, uint64_t& last, Duration waited,
                    Duration max_wait) {
    if (!usage) {
        return true;  // no cgroup to look at: check at once
    }
    bool idle = *usage > 0 && *usage == last;
    last = *usage;
    return idle || waited >= max_wait;
}

void Supervisor::start_health(Unit& u) {
    if (!u.spec.healthcheck) {
        return;
    }
    u.health_active = true;
    u.health_gen++;
    u.health_failures = 0;
    u.health_probe = Duration(0);
    u.health_since = loop_.now();
    u.health_settling = true;
    u.health_cpu_usec = 0;
    if (!u.health_timer.valid()) {
        auto t = loop_.after(Duration(0), [this, &u] { run_health(u); });
        if (!t) {
            log::error("healthcheck timer failed",
                       {{"service", u.spec.name}, {"error", t.error().str()}});
            return;
        }
        u.health_timer = std::move(*t);
    } else {
        (void)u.health_timer.rearm(Duration(0));
    }
}

void Supervisor::run_health(Unit& u) {
    if (!u.health_active) {
        return;
    }
    if (u.health_job != nullptr) {
        // A check of the previous run is still being killed: try again next interval.
        (void)u.health_timer.rearm(u.spec.healthcheck->interval);
        return;
    }
    if (u.health_settling) {
        auto usage = cpu_usage_usec(u.proc ? u.proc->started.cgroup : std::string());
        if (!health_settled(usage, u.health_cpu_usec, loop_.now() - u.health_since, kFirstProbe)) {
            (void)u.health_timer.rearm(kSettlePoll);
            return;
        }
        u.health_settling = false;
    }
    const HealthCheck& hc = *u.spec.healthcheck;
    uint64_t gen = u.health_gen;
    auto job = run_job(u, hc.test, hc.timeout, [this, &u, gen](Job& j) {
        u.health_job = nullptr;
        if (!u.health_active || gen != u.health_gen) {
            return;  // the service stopped (or restarted) while the check ran
        }
        u.health_output = j.output.substr(0, 4096);
        bool passed = j.status.success() && !j.timed_out;
        Duration now = loop_.now();
        const Duration interval = u.spec.healthcheck->interval;
        bool quick = u.health_probe >= Duration(0) && now - u.health_since < interval;
        if (passed) {
            u.health_failures = 0;
            u.health_probe = Duration(-1);  // the plain cadence from now on
            feed(u, {EventKind::HealthOk});
        } else if (quick) {
            // Not healthy yet, still in the first interval: not a failure, look again soon.
            u.health_probe = next_probe(u.health_probe, interval);
            if (u.health_active) {
                (void)u.health_timer.rearm(u.health_probe);
            }
            return;
        } else if (now - u.health_since >= u.spec.healthcheck->start_period) {
            // Docker's start_period: failures while the service boots do not count.
            u.health_failures++;
            if (u.health_failures >= u.spec.healthcheck->retries) {
                std::string why = j.timed_out
                                      ? fmt::format("healthcheck timed out after {}",
                                                    format_duration(u.spec.healthcheck->timeout))
                                      : fmt::format("healthcheck {}", j.status.str());
                feed(u, {EventKind::HealthFail, {}, false, why});
            }
        }
        if (u.health_active) {
            (void)u.health_timer.rearm(u.spec.healthcheck->interval);
        }
    });
    if (!job) {
        log::warn("healthcheck could not run",
                  {{"service", u.spec.name}, {"error", job.error().str()}});
        u.health_failures++;
        (void)u.health_timer.rearm(hc.interval);
        return;
    }
    u.health_job = *job;
}

Result<Supervisor::Job*> Supervisor::run_job(Unit& u, std::vector<std::string> argv,
                                             Duration timeout, std::function<void(Job&)> done) {
    auto job = std::make_shared<Job>();
    job->unit = &u;
    job->done = std::move(done);
    FdPair pipe = GANTRY_TRY(make_pipe(O_NONBLOCK));
    const Started* running = u.proc ? &u.proc->started : nullptr;
    job->began = std::chrono::steady_clock::now();
    job->proc = GANTRY_TRY(driver_.exec(u.spec, running, argv, pipe.write.get()));
    job->exec_took = std::chrono::steady_clock::now() - job->began;
    pipe.write.reset();
    job->out = std::move(pipe.read);
    Job* j = job.get();
    tracked_.insert(j->proc.pid());
    jobs_.emplace(j, job);
    auto fail_job = [&](Error e) -> Result<Job*> {
        (void)j->proc.send_signal(SIGKILL);
        (void)j->proc.wait();
        tracked_.erase(j->proc.pid());
        jobs_.erase(j);
        return fail(std::move(e));
    };
    auto append = [j](std::string_view data) {
        if (j->output.size() < kMaxJobOutput) {
            j->output.append(data.substr(0, kMaxJobOutput - j->output.size()));
        }
    };
    auto out = loop_.on_io(j->out.get(), EPOLLIN, [this, j, append](uint32_t) {
        if (!read_some(j->out.get(), kMaxChunksPerWakeup, append) && j->out_src.valid()) {
            // EOF: stop watching. Not destroyed here: this callback is running inside it.
            retire(std::make_shared<Source>(std::move(j->out_src)));
        }
    });
    if (!out) {
        return fail_job(std::move(out).error());
    }
    j->out_src = std::move(*out);
    auto watch = loop_.on_child(j->proc, [this, j](const ExitStatus& st) { finish_job(*j, st); });
    if (!watch) {
        return fail_job(std::move(watch).error());
    }
    j->watch = std::move(*watch);
    auto to = loop_.after(timeout, [j] {
        j->timed_out = true;
        (void)j->proc.send_signal(SIGKILL);
        ::kill(-j->proc.pid(), SIGKILL);  // its own session: the whole job goes
    });
    if (!to) {
        return fail_job(std::move(to).error());
    }
    j->timeout_src = std::move(*to);
    return j;
}

void Supervisor::finish_job(Job& j, const ExitStatus& st) {
    j.status = st;
    j.timeout_src.reset();
    tracked_.erase(j.proc.pid());
    // The job's session may have left children holding the pipe: take what is there now.
    read_some(j.out.get(), 64, [&](std::string_view data) {
        if (j.output.size() < kMaxJobOutput) {
            j.output.append(data.substr(0, kMaxJobOutput - j.output.size()));
        }
    });
    ::kill(-j.proc.pid(), SIGKILL);
    if (log::enabled(log::Level::Debug)) {
        auto ms = [](auto d) {
            return fmt::format("{:.1f}ms", std::chrono::duration<double, std::milli>(d).count());
        };
        log::debug("job done", {{"service", j.unit->spec.name},
                                {"exec", ms(j.exec_took)},
                                {"total", ms(std::chrono::steady_clock::now() - j.began)},
                                {"status", j.status.str()}});
    }
    auto it = jobs_.find(&j);
    std::shared_ptr<Job> keep = it->second;
    jobs_.erase(it);
    retire(keep);
    if (j.done) {
        j.done(j);
    }
}

Status Supervisor::exec(const std::string& name, std::vector<std::string> argv, Duration timeout,
                        ExecDone done) {
    Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    if (argv.empty()) {
        return fail(Error::msg("exec: no command given"));
    }
    GANTRY_TRY_CTX(run_job(*u, std::move(argv), timeout,
                           [done](Job& j) {
                               done(ExecResult{j.status, j.timed_out, std::move(j.output)});
                           }),
                   "exec in {}", name);
    return ok();
}

}  // namespace gantry::supervisor
