#include "supervisor/supervisor.h"

#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "supervisor/discovery.h"
#include "supervisor/image_fetcher.h"
#include "supervisor/notify.h"
#include "supervisor/unit.h"

namespace gantry::supervisor {

namespace {

constexpr Duration kFarFuture = std::chrono::hours(24 * 365);

}  // namespace

Supervisor::Supervisor(EventLoop& loop, Driver& driver, SupervisorOptions opts)
    : loop_(loop), driver_(driver), opts_(std::move(opts)) {}

Supervisor::~Supervisor() {
    // Sources borrow pidfds and fds held by units and jobs: drop sources first.
    jobs_.clear();
    units_.clear();
    graveyard_.clear();
}

Supervisor::Unit* Supervisor::find(const std::string& name) const {
    auto it = units_.find(name);
    return it == units_.end() ? nullptr : it->second.get();
}

void Supervisor::retire(std::shared_ptr<void> thing) {
    graveyard_.push_back(std::move(thing));
    if (gc_timer_.valid()) {
        (void)gc_timer_.rearm(Duration(0));
    }
}

Status Supervisor::load(std::vector<ServiceSpec> specs) {
    for (const auto& s : specs) {
        GANTRY_TRY(validate(s));
    }
    graph_ = GANTRY_TRY(Graph::build(specs));
    gc_timer_ = GANTRY_TRY(loop_.after(kFarFuture, [this] { graveyard_.clear(); }));
    if (!opts_.run_dir.empty()) {
        ::mkdir(opts_.run_dir.c_str(), 0755);
        ::mkdir((opts_.run_dir + "/notify").c_str(), 0755);
    }
    for (auto& spec : specs) {
        std::string name = spec.name;
        auto u = std::make_unique<Unit>(std::move(spec), opts_.log_dir);
        Unit* up = u.get();
        up->out_pipe = GANTRY_TRY_CTX(make_pipe(O_NONBLOCK), "service {}: stdout pipe", name);
        up->err_pipe = GANTRY_TRY_CTX(make_pipe(O_NONBLOCK), "service {}: stderr pipe", name);
        // The service gets blocking write ends: a flooding service is slowed by a full
        // pipe instead of losing output, and PID 1's read side stays non-blocking.
        int fl = fcntl(up->out_pipe.write.get(), F_GETFL);
        fcntl(up->out_pipe.write.get(), F_SETFL, fl & ~O_NONBLOCK);
        fl = fcntl(up->err_pipe.write.get(), F_GETFL);
        fcntl(up->err_pipe.write.get(), F_SETFL, fl & ~O_NONBLOCK);
        up->out_src =
            GANTRY_TRY(loop_.on_io(up->out_pipe.read.get(), EPOLLIN,
                                   [this, up](uint32_t) { on_output(*up, Stream::Stdout); }));
        up->err_src =
            GANTRY_TRY(loop_.on_io(up->err_pipe.read.get(), EPOLLIN,
                                   [this, up](uint32_t) { on_output(*up, Stream::Stderr); }));
        if (up->spec.notify && !opts_.run_dir.empty()) {
            up->notify_path = opts_.run_dir + "/notify/" + name;
            up->notify_fd = GANTRY_TRY_CTX(bind_notify_socket(up->notify_path), "service {}", name);
            up->notify_src = GANTRY_TRY(loop_.on_io(up->notify_fd.get(), EPOLLIN,
                                                    [this, up](uint32_t) { on_notify(*up); }));
        }
        up->timer = GANTRY_TRY(loop_.after(kFarFuture, [this, up] {
            if (up->timer_armed) {
                up->timer_armed = false;
                feed(*up, {EventKind::TimerFired});
            }
        }));
        if (up->policy.watchdog > Duration(0)) {
            up->watchdog_timer = GANTRY_TRY(loop_.after(kFarFuture, [this, up] {
                if (up->watchdog_armed) {
                    up->watchdog_armed = false;
                    feed(*up, {EventKind::WatchdogExpired,
                               {},
                               false,
                               fmt::format("watchdog timeout: no WATCHDOG=1 within {}",
                                           format_duration(up->policy.watchdog))});
                }
            }));
        }
        up->log.on_line = [up](const std::string& line) {
            for (auto& [id, fn] : up->log_subs) {
                fn(line);
            }
        };
        units_.emplace(name, std::move(u));
    }
    return ok();
}

void Supervisor::start_all() {
    for (const auto& name : graph_.start_order()) {
        check_deps(*find(name));
    }
}

void Supervisor::hold_host_network(std::string why) {
    network_hold_ = why.empty() ? "waiting for the network" : std::move(why);
}

void Supervisor::release_host_network() {
    if (network_hold_.empty()) {
        return;
    }
    network_hold_.clear();
    start_all();  // every service still waiting looks again; the others are left alone
}

bool Supervisor::held_for_network(const Unit& u) const {
    // A service without an image is a host process: on the host's network.
    return !network_hold_.empty() && !u.spec.system &&
           (u.spec.image.empty() || u.spec.network_mode == NetworkMode::Host);
}

void Supervisor::emit(const std::string& service, std::string from, std::string to,
                      std::string detail) {
    ServiceEvent ev{++event_seq_,    realtime_us(), service,
                    std::move(from), std::move(to), std::move(detail)};
    log::info("service state",
              {{"service", service}, {"from", ev.from}, {"to", ev.to}, {"detail", ev.detail}});
    events_.push_back(ev);
    while (events_.size() > opts_.event_history) {
        events_.pop_front();
    }
    for (auto& [id, fn] : event_subs_) {
        fn(ev);
    }
}

void Supervisor::feed(Unit& u, Event e) {
    Transition t = step(u.m, u.policy, e, loop_.now());
    if (!t.changed) {
        log::debug("event ignored", {{"service", u.spec.name},
                                     {"state", to_string(u.m.state)},
                                     {"event", to_string(e.kind)}});
        return;
    }
    State from = u.m.state;
    u.m = std::move(t.next);
    if (from != u.m.state) {
        emit(u.spec.name, std::string(to_string(from)), std::string(to_string(u.m.state)),
             u.m.reason);
    }
    for (const auto& a : t.actions) {
        act(u, a);
    }
    if (from != u.m.state) {
        publish(u);
        after_change(u);
    }
}

void Supervisor::set_discovery(Discovery* d) {
    discovery_ = d;
    for (const auto& [name, u] : units_) {
        publish(*u);
    }
}

// Up services are in the store; stopping ones are not (new clients should not find a
// service that is going away), nor those down.
void Supervisor::publish(const Unit& u) {
    if (discovery_ == nullptr) {
        return;
    }
    State s = u.m.state;
    if (s != State::Starting && s != State::Running && s != State::Healthy &&
        s != State::Unhealthy) {
        discovery_->remove(u.spec.name);
        return;
    }
    Registration r;
    r.name = u.spec.name;
    r.state = std::string(to_string(s));
    if (u.spec.healthcheck) {
        r.health = s == State::Healthy     ? "healthy"
                   : s == State::Unhealthy ? "unhealthy"
                                           : "starting";
    }
    if (u.proc) {
        r.pid = u.proc->started.process.pid();
    }
    auto since =
        std::chrono::duration_cast<std::chrono::microseconds>(loop_.now() - u.m.started_at);
    r.started_at_us = realtime_us() - since.count();
    r.ports = u.spec.ports;
    // A service without an image is a host process: on the host's network.
    r.host_network = u.spec.image.empty() || u.spec.network_mode == NetworkMode::Host;
    r.network_mode = u.spec.image.empty() ? "host" : std::string(to_string(u.spec.network_mode));
    discovery_->update(std::move(r));
}

void Supervisor::act(Unit& u, const Action& a) {
    switch (a.kind) {
        case ActionKind::Spawn:
            spawn(u);
            break;
        case ActionKind::SendStop:
        case ActionKind::SendKill:
            if (u.proc) {
                int sig = a.kind == ActionKind::SendKill ? SIGKILL
                          : a.signal != 0                ? a.signal
                                                         : u.spec.stop_signal;
                if (auto st = driver_.kill(u.spec, u.proc->started, sig, sig == SIGKILL); !st) {
                    log::warn("signal failed",
                              {{"service", u.spec.name}, {"error", st.error().str()}});
                }
            }
            break;
        case ActionKind::ArmTimer:
            u.timer_armed = true;
            u.timer_deadline = loop_.now() + a.delay;
            (void)u.timer.rearm(a.delay);
            break;
        case ActionKind::CancelTimer:
            u.timer_armed = false;
            break;
        case ActionKind::StartHealth:
            start_health(u);
            break;
        case ActionKind::StopHealth:
            u.health_active = false;
            if (u.health_job != nullptr) {
                (void)u.health_job->proc.send_signal(SIGKILL);
            }
            break;
        case ActionKind::CheckDeps:
            check_deps(u);
            break;
        case ActionKind::ArmWatchdog:
            if (u.watchdog_timer.valid()) {
                u.watchdog_armed = true;
                (void)u.watchdog_timer.rearm(u.policy.watchdog);
            }
            break;
        case ActionKind::StopWatchdog:
            u.watchdog_armed = false;
            break;
    }
}

void Supervisor::spawn(Unit& u) {
    if (shutting_down_) {
        feed(u, {EventKind::SpawnFailed, {}, false, "shutting down"});
        return;
    }
    if (ImageFetcher* images = driver_.images(); images != nullptr && !u.spec.image.empty() &&
                                                 u.spec.image_error.empty() &&
                                                 !images->ready(u.spec.image)) {
        // A restart whose image is gone (GC) or wants a new pull (pull: always): wait for
        // the helper instead of blocking here.
        feed(u, {EventKind::ImagePending, {}, false, "image " + u.spec.image + " not ready"});
        check_deps(u);
        return;
    }
    StartIo io{u.out_pipe.write.get(), u.err_pipe.write.get(), u.notify_path};
    auto started = driver_.start(u.spec, io);
    if (!started) {
        log::error("service failed to start",
                   {{"service", u.spec.name}, {"error", started.error().str()}});
        u.log.feed(Stream::Stderr, fmt::format("gantry: {}\n", started.error().str()),
                   realtime_us());
        feed(u, {EventKind::SpawnFailed, {}, false, started.error().str()});
        return;
    }
    auto proc = std::make_shared<RunningProc>();
    proc->started = std::move(*started);
    auto watch =
        loop_.on_child(proc->started.process, [this, &u](const ExitStatus& st) { on_exit(u, st); });
    if (!watch) {
        // Without a watch the process would be unsupervised: kill it and treat as failed.
        (void)proc->started.process.send_signal(SIGKILL);
        (void)proc->started.process.wait();
        feed(u, {EventKind::SpawnFailed, {}, false, watch.error().str()});
        return;
    }
    proc->watch = std::move(*watch);
    tracked_.insert(proc->started.process.pid());
    // memory.events only exists with a cgroup; skip the read otherwise (crash loops).
    u.oom_base =
        proc->started.cgroup.empty() ? 0 : driver_.usage(proc->started).oom_kills.value_or(0);
    u.proc = std::move(proc);
    log::info("service started",
              {{"service", u.spec.name}, {"pid", u.proc->started.process.pid()}});
    feed(u, {EventKind::Spawned});
}

void Supervisor::on_exit(Unit& u, const ExitStatus& st) {
    if (!u.proc) {
        return;
    }
    auto proc = std::move(u.proc);
    tracked_.erase(proc->started.process.pid());
    bool oom = false;
    if (auto kills =
            proc->started.cgroup.empty() ? std::nullopt : driver_.usage(proc->started).oom_kills;
        kills && *kills > u.oom_base) {
        oom = true;
        u.oom_kills += *kills - u.oom_base;
    }
    driver_.cleanup(u.spec, proc->started);
    // Drain what the process wrote before it died, so its last words precede the exit.
    on_output(u, Stream::Stdout);
    on_output(u, Stream::Stderr);
    u.log.flush(realtime_us());
    Duration now = loop_.now();
    u.history.push_back({realtime_us(), st, oom, now - u.m.started_at});
    while (u.history.size() > opts_.exit_history) {
        u.history.pop_front();
    }
    retire(std::move(proc));
    feed(u, {EventKind::Exited, st, oom, ""});
}

bool Supervisor::deps_ready(const Unit& u, std::string& waiting_for) const {
    for (const auto& d : u.spec.depends_on) {
        const Unit* dep = find(d.service);
        State s = dep->m.state;
        bool okd = false;
        switch (d.condition) {
            case DependCondition::Started:
                okd = s == State::Running || s == State::Healthy || s == State::Unhealthy ||
                      (s == State::Exited && dep->spec.type == ServiceType::Oneshot &&
                       dep->m.reason == "completed");
                break;
            case DependCondition::Healthy:
                // Notify-only services count as healthy once READY=1 put them in running.
                okd = s == State::Healthy ||
                      (!dep->spec.healthcheck && (s == State::Running || s == State::Unhealthy));
                break;
            case DependCondition::CompletedSuccessfully:
                okd = s == State::Exited && !dep->history.empty() &&
                      dep->history.back().status.success();
                break;
        }
        if (!okd) {
            waiting_for = fmt::format("waiting for {} ({}; now {})", d.service,
                                      to_string(d.condition), to_string(s));
            return false;
        }
    }
    return true;
}

void Supervisor::check_deps(Unit& u) {
    if (u.m.state != State::Waiting || shutting_down_) {
        return;
    }
    std::string why;
    if (!deps_ready(u, why)) {
        if (u.m.reason != why) {
            u.m.reason = why;
        }
        return;
    }
    if (held_for_network(u)) {
        u.m.reason = network_hold_;
        return;
    }
    if (image_ready(u)) {
        feed(u, {EventKind::DepsReady});
    }
}

void Supervisor::after_change(Unit& u) {
    if (u.restart_after_stop && (u.m.state == State::Exited || u.m.state == State::Failed)) {
        u.restart_after_stop = false;
        if (!shutting_down_) {
            feed(u, {EventKind::StartRequested});
            return;
        }
    }
    for (const auto& name : graph_.dependents(u.spec.name)) {
        check_deps(*find(name));
    }
    if (shutting_down_) {
        shutdown_progress();
    }
}

Status Supervisor::start(const std::string& name) {
    Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    if (shutting_down_) {
        return fail(Error::msg("the machine is shutting down"));
    }
    if (u->m.state == State::Waiting) {
        check_deps(*u);
        return ok();
    }
    if (u->m.state == State::Stopping) {
        u->restart_after_stop = true;  // start again once the stop completes
        return ok();
    }
    feed(*u, {EventKind::StartRequested});
    return ok();
}

Status Supervisor::stop(const std::string& name) {
    Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    u->restart_after_stop = false;
    feed(*u, {EventKind::StopRequested});
    return ok();
}

Status Supervisor::restart(const std::string& name) {
    Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    if (shutting_down_) {
        return fail(Error::msg("the machine is shutting down"));
    }
    if (is_up(u->m.state)) {
        u->restart_after_stop = true;
        feed(*u, {EventKind::StopRequested});
    } else {
        feed(*u, {EventKind::StopRequested});  // backoff/waiting -> exited first
        feed(*u, {EventKind::StartRequested});
    }
    return ok();
}

void Supervisor::shutdown(std::function<void()> done) {
    if (shutting_down_) {
        return;
    }
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    log::info("stopping all services", {{"count", units_.size()}});
    // Services without a process stop at once, so no backoff timer can start one again.
    for (auto& [name, u] : units_) {
        if (u->m.state == State::Waiting || u->m.state == State::Backoff) {
            feed(*u, {EventKind::StopRequested});
        }
    }
    shutdown_progress();
}

void Supervisor::shutdown_progress() {
    bool all_down = true;
    bool others_down = true;  // every service that is not a system service
    for (const auto& [name, u] : units_) {
        others_down = others_down && (u->spec.system || u->m.state == State::Exited ||
                                      u->m.state == State::Failed);
    }
    for (const auto& name : graph_.stop_order()) {
        Unit& u = *find(name);
        bool down = u.m.state == State::Exited || u.m.state == State::Failed;
        if (down) {
            continue;
        }
        all_down = false;
        if (u.m.state == State::Stopping || (u.spec.system && !others_down)) {
            continue;
        }
        // Reverse dependency order: a service stops once everything that needs it is down.
        bool dependents_down = true;
        for (const auto& d : graph_.dependents(name)) {
            State s = find(d)->m.state;
            dependents_down = dependents_down && (s == State::Exited || s == State::Failed);
        }
        if (dependents_down) {
            feed(u, {EventKind::StopRequested});
            return;  // feed re-enters shutdown_progress through after_change
        }
    }
    if (all_down && shutdown_done_) {
        auto done = std::move(shutdown_done_);
        shutdown_done_ = nullptr;
        done();
    }
}

Result<ServiceStatus> Supervisor::status(const std::string& name) const {
    const Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    ServiceStatus s;
    s.spec = &u->spec;
    s.state = u->m.state;
    s.reason = u->m.reason;
    if (u->image_wait) {
        if (std::string p = driver_.images()->progress(u->spec.image); !p.empty()) {
            s.reason += " (" + p + ")";
        }
    }
    if (u->spec.healthcheck &&
        (u->health_active || u->m.state == State::Healthy || u->m.state == State::Unhealthy)) {
        s.health = u->m.state == State::Healthy     ? "healthy"
                   : u->m.state == State::Unhealthy ? "unhealthy"
                                                    : "starting";
    }
    s.health_output = u->health_output;
    s.notify_status = u->notify_status;
    s.restarts = u->m.restarts;
    s.oom_kills = u->oom_kills;
    if (u->proc) {
        s.pid = u->proc->started.process.pid();
        s.uptime = loop_.now() - u->m.started_at;
        Usage usage = driver_.usage(u->proc->started);
        s.memory_bytes = usage.memory_bytes;
        s.pids = usage.pids;
        s.pids_limit_hits = usage.pids_limit_hits;
    }
    s.history.assign(u->history.begin(), u->history.end());
    return s;
}

Result<std::vector<std::string>> Supervisor::logs(const std::string& name, size_t tail,
                                                  int64_t since_us) const {
    const Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    return u->log.tail(tail, since_us);
}

Result<int> Supervisor::subscribe_logs(const std::string& name, LineFn fn) {
    Unit* u = find(name);
    if (u == nullptr) {
        return fail(Error::msg("no service named \"{}\"", name));
    }
    int id = next_sub_++;
    u->log_subs.emplace(id, std::move(fn));
    return id;
}

int Supervisor::subscribe_events(EventFn fn) {
    int id = next_sub_++;
    event_subs_.emplace(id, std::move(fn));
    return id;
}

void Supervisor::unsubscribe(int id) {
    event_subs_.erase(id);
    for (auto& [name, u] : units_) {
        u->log_subs.erase(id);
    }
}

void Supervisor::attach_log_dir(const std::string& dir) {
    opts_.log_dir = dir;
    for (auto& [name, u] : units_) {
        if (!u->log.file_mode()) {
            if (auto st = u->log.attach_dir(dir); !st) {
                log::warn("service log stays in memory",
                          {{"service", name}, {"error", st.error().str()}});
            }
        }
    }
}

}  // namespace gantry::supervisor
