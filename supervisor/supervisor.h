// Supervisor: runs a set of services on one EventLoop through a Driver.
//
// It owns one Unit per service: the state machine (state_machine.h), the running
// process, its log, its notify socket and healthchecks. Everything is event driven:
// child exits through pidfds, output and notify datagrams through epoll, backoff and
// grace periods through timers. Nothing here blocks except the driver's fork/exec.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/event_loop.h"
#include "supervisor/driver.h"
#include "supervisor/graph.h"
#include "supervisor/log_store.h"
#include "supervisor/state_machine.h"

namespace gantry::supervisor {

class Discovery;

struct SupervisorOptions {
    std::string run_dir;  // notify sockets go to <run_dir>/notify/<service>
    std::string log_dir;  // "" = in-memory rings only
    size_t exit_history = 20;
    size_t event_history = 1000;
};

struct ExitRecord {
    int64_t time_us = 0;  // realtime
    ExitStatus status;
    bool oom = false;
    Duration ran_for{0};
};

// A state change, as `gantryctl events` shows it.
struct ServiceEvent {
    uint64_t seq = 0;
    int64_t time_us = 0;
    std::string service;
    std::string from;
    std::string to;
    std::string detail;
};

// A read-only view of one service for the API.
struct ServiceStatus {
    const ServiceSpec* spec = nullptr;
    State state = State::Waiting;
    std::string reason;
    std::string health;  // "", "starting", "healthy", "unhealthy"
    std::string health_output;
    std::string notify_status;  // last STATUS=
    int restarts = 0;
    pid_t pid = 0;
    Duration uptime{0};
    std::optional<uint64_t> memory_bytes;
    uint64_t oom_kills = 0;
    std::optional<uint64_t> pids;             // processes in the cgroup now
    std::optional<uint64_t> pids_limit_hits;  // forks refused by pids_limit (pids.events max)
    std::vector<ExitRecord> history;
};

struct ExecResult {
    ExitStatus status;
    bool timed_out = false;
    std::string output;  // stdout and stderr interleaved, at most 1 MiB
};

class Supervisor {
  public:
    Supervisor(EventLoop& loop, Driver& driver, SupervisorOptions opts);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    // Validates the specs and the graph and sets up each service (pipes, notify socket,
    // log). Call once, before start_all().
    Status load(std::vector<ServiceSpec> specs);
    // Starts every service as its dependencies allow.
    void start_all();

    // The machine's network is being set up (PID 1: network.interfaces, init/main.cc):
    // until release_host_network(), every service on the host's network (network_mode:
    // host, and host processes) waits in `waiting` with `why` as its reason. Built-in
    // system services (the embedded gantry-kv, loopback only) are not held.
    void hold_host_network(std::string why);
    void release_host_network();

    Status start(const std::string& name);
    Status stop(const std::string& name);
    Status restart(const std::string& name);
    // Stops everything in reverse dependency order; `done` runs once all are down.
    void shutdown(std::function<void()> done);
    bool shutting_down() const { return shutting_down_; }

    using ExecDone = std::function<void(Result<ExecResult>)>;
    Status exec(const std::string& name, std::vector<std::string> argv, Duration timeout,
                ExecDone done);

    std::vector<std::string> names() const { return graph_.start_order(); }
    Result<ServiceStatus> status(const std::string& name) const;
    Result<std::vector<std::string>> logs(const std::string& name, size_t tail,
                                          int64_t since_us) const;
    const std::deque<ServiceEvent>& events() const { return events_; }

    // Subscriptions for streaming; the id unsubscribes. Callbacks must not unsubscribe.
    using LineFn = std::function<void(const std::string&)>;
    using EventFn = std::function<void(const ServiceEvent&)>;
    Result<int> subscribe_logs(const std::string& name, LineFn fn);
    int subscribe_events(EventFn fn);
    void unsubscribe(int id);

    // Whether a process is one the supervisor reaps through its pidfd. The zombie reaper
    // of PID 1 must leave these alone (sd-event reaps them).
    bool tracks(pid_t pid) const;
    // Moves service logs from memory into `dir` once it exists (PID 1 after mounting /var).
    void attach_log_dir(const std::string& dir);
    // Publishes every state change to the KV store (discovery.h); nullptr = off. Borrowed:
    // it must outlive the supervisor or be reset first.
    void set_discovery(Discovery* d);

    struct Unit;
    struct Job;

  private:
    void feed(Unit& u, Event e);
    void act(Unit& u, const Action& a);
    void spawn(Unit& u);
    void on_exit(Unit& u, const ExitStatus& st);
    void check_deps(Unit& u);
    bool image_ready(Unit& u);
    bool held_for_network(const Unit& u) const;
    void image_arrived(const std::string& name, Status result);
    bool resolve_pending(Unit& u);
    bool deps_ready(const Unit& u, std::string& waiting_for) const;
    void after_change(Unit& u);
    void publish(const Unit& u);
    void shutdown_progress();
    void on_notify(Unit& u);
    void extend_timer(Unit& u, Duration extra);
    void on_output(Unit& u, Stream s);
    void start_health(Unit& u);
    void run_health(Unit& u);
    Result<Job*> run_job(Unit& u, std::vector<std::string> argv, Duration timeout,
                         std::function<void(Job&)> done);
    void finish_job(Job& j, const ExitStatus& st);
    void emit(const std::string& service, std::string from, std::string to, std::string detail);
    void retire(std::shared_ptr<void> thing);
    Unit* find(const std::string& name) const;

    EventLoop& loop_;
    Driver& driver_;
    SupervisorOptions opts_;
    Graph graph_;
    std::map<std::string, std::unique_ptr<Unit>> units_;
    std::set<pid_t> tracked_;
    std::map<Job*, std::shared_ptr<Job>> jobs_;
    std::deque<ServiceEvent> events_;
    uint64_t event_seq_ = 0;
    int next_sub_ = 1;
    std::map<int, EventFn> event_subs_;
    Discovery* discovery_ = nullptr;
    bool shutting_down_ = false;
    std::string network_hold_;  // why host-network services wait; "" = not held
    std::function<void()> shutdown_done_;
    // Sources and processes cannot be destroyed inside their own callbacks; they wait
    // here until a zero-delay timer frees them on the next iteration.
    std::vector<std::shared_ptr<void>> graveyard_;
    Source gc_timer_;
};

}  // namespace gantry::supervisor
