// EventLoop: a thin owner of an sd-event loop (libsystemd) for signals, child pidfds,
// timers, fd I/O and deferred work. One thread, no polling: gantry-init sleeps in
// epoll_wait until the kernel has something for it.
//
// Callbacks are std::function. They must not throw; if one does, the exception is caught
// at the C border, logged, and the loop goes on (PID 1 never dies of a callback).
// A Source owns its registration: destroying it removes the callback from the loop.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <chrono>
#include <functional>
#include <memory>

#include "base/error.h"
#include "base/pidfd.h"
#include "base/units.h"

struct sd_event;
struct sd_event_source;

namespace gantry {

class EventLoop;

class Source {
  public:
    Source();
    ~Source();
    Source(Source&& o) noexcept;
    Source& operator=(Source&& o) noexcept;
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;

    bool valid() const { return src_ != nullptr; }
    // Disables and unrefs the source; the callback will not be called again.
    void reset();
    // Timers only: re-arms the timer to fire `after` from now.
    Status rearm(Duration after);
    // I/O only: changes the epoll events watched (EPOLLIN, EPOLLOUT ...).
    Status set_io_events(uint32_t events);

    // The callback, at a stable address for sd-event's userdata pointer.
    struct Holder;

  private:
    friend class EventLoop;
    Source(sd_event_source* src, std::unique_ptr<Holder> holder);

    sd_event_source* src_ = nullptr;
    std::unique_ptr<Holder> holder_;
};

class EventLoop {
  public:
    static Result<EventLoop> create();
    ~EventLoop();
    EventLoop(EventLoop&& o) noexcept;
    EventLoop& operator=(EventLoop&& o) noexcept;
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    using SignalFn = std::function<void(const signalfd_siginfo&)>;
    using ChildFn = std::function<void(const ExitStatus&)>;
    using IoFn = std::function<void(uint32_t revents)>;
    using TimerFn = std::function<void()>;

    // Blocks `sig` in this thread's mask (sd-event reads it through a signalfd) and calls
    // `fn` each time it arrives.
    Result<Source> on_signal(int sig, SignalFn fn);
    // Calls `fn` once when the process behind `child` exits; the loop reaps it. SIGCHLD is
    // blocked as sd-event requires. `child` is borrowed and must outlive the Source.
    Result<Source> on_child(const PidFd& child, ChildFn fn);
    // Calls `fn(revents)` whenever `fd` is ready for `events` (EPOLLIN ...). `fd` is borrowed.
    Result<Source> on_io(int fd, uint32_t events, IoFn fn);
    // Calls `fn` once, `after` from now (CLOCK_MONOTONIC). Re-arm with Source::rearm.
    Result<Source> after(Duration after, TimerFn fn);
    // Calls `fn` on the next iteration, before sleeping.
    Result<Source> defer(TimerFn fn);

    // Runs until exit() is called; returns the exit code passed to it.
    Result<int> run();
    // Runs one iteration, waiting at most `timeout` (tests use this).
    Status run_once(Duration timeout);
    void exit(int code);
    // The loop's idea of CLOCK_MONOTONIC now, as a duration since boot.
    Duration now() const;

    sd_event* raw() const { return ev_; }

  private:
    explicit EventLoop(sd_event* ev) : ev_(ev) {}
    sd_event* ev_ = nullptr;
};

}  // namespace gantry
