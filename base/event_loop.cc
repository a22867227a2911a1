#include "base/event_loop.h"

#include <systemd/sd-event.h>
#include <time.h>

#include <exception>
#include <utility>
#include <variant>

#include "base/log.h"

namespace gantry {

// Keeps the callback alive at a stable address for sd-event's userdata pointer.
struct Source::Holder {
    std::variant<EventLoop::SignalFn, EventLoop::ChildFn, EventLoop::IoFn, EventLoop::TimerFn> fn;
};

namespace {

// Runs a callback, keeping exceptions out of sd-event's C frames.
template <typename F>
int guarded(const char* what, F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        log::error("event callback threw", {{"source", what}, {"error", e.what()}});
    } catch (...) {
        log::error("event callback threw", {{"source", what}, {"error", "unknown exception"}});
    }
    return 0;
}

Status block_signal(int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    int r = pthread_sigmask(SIG_BLOCK, &set, nullptr);
    if (r != 0) {
        return fail(Error::with_errno(r, fmt::format("block signal {}", sig)));
    }
    return ok();
}

int on_signal_cb(sd_event_source*, const struct signalfd_siginfo* si, void* data) {
    auto* h = static_cast<Source::Holder*>(data);
    return guarded("signal", [&] { std::get<EventLoop::SignalFn>(h->fn)(*si); });
}

int on_child_cb(sd_event_source*, const siginfo_t* si, void* data) {
    auto* h = static_cast<Source::Holder*>(data);
    ExitStatus st = ExitStatus::from_siginfo(si->si_code, si->si_status);
    return guarded("child", [&] { std::get<EventLoop::ChildFn>(h->fn)(st); });
}

int on_io_cb(sd_event_source*, int, uint32_t revents, void* data) {
    auto* h = static_cast<Source::Holder*>(data);
    return guarded("io", [&] { std::get<EventLoop::IoFn>(h->fn)(revents); });
}

int on_time_cb(sd_event_source*, uint64_t, void* data) {
    auto* h = static_cast<Source::Holder*>(data);
    return guarded("timer", [&] { std::get<EventLoop::TimerFn>(h->fn)(); });
}

int on_defer_cb(sd_event_source* s, void* data) {
    auto* h = static_cast<Source::Holder*>(data);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);  // one-shot
    return guarded("defer", [&] { std::get<EventLoop::TimerFn>(h->fn)(); });
}

// sd-event coalesces timers within "accuracy"; 0 would mean its default of 250 ms, too
// coarse for restart backoff. 1 ms keeps wakeups exact enough without busy timers.
constexpr uint64_t kTimerAccuracyUsec = 1000;

uint64_t to_usec(Duration d) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

Source::Source(sd_event_source* src, std::unique_ptr<Holder> holder)
    : src_(src), holder_(std::move(holder)) {}

Source::Source(Source&& o) noexcept
    : src_(std::exchange(o.src_, nullptr)), holder_(std::move(o.holder_)) {}

Source& Source::operator=(Source&& o) noexcept {
    if (this != &o) {
        reset();
        src_ = std::exchange(o.src_, nullptr);
        holder_ = std::move(o.holder_);
    }
    return *this;
}

Source::Source() = default;
Source::~Source() {
    reset();
}

void Source::reset() {
    if (src_ != nullptr) {
        // disable_unref: the source is gone from the loop even if sd-event holds a ref.
        sd_event_source_disable_unref(src_);
        src_ = nullptr;
    }
    holder_.reset();
}

Status Source::rearm(Duration after) {
    uint64_t now = 0;
    int r = sd_event_now(sd_event_source_get_event(src_), CLOCK_MONOTONIC, &now);
    if (r < 0) {
        return fail(Error::with_errno(-r, "read loop clock"));
    }
    r = sd_event_source_set_time(src_, now + to_usec(after));
    if (r >= 0) {
        r = sd_event_source_set_enabled(src_, SD_EVENT_ONESHOT);
    }
    if (r < 0) {
        return fail(Error::with_errno(-r, "re-arm timer"));
    }
    return ok();
}

Status Source::set_io_events(uint32_t events) {
    int r = sd_event_source_set_io_events(src_, events);
    if (r < 0) {
        return fail(Error::with_errno(-r, "set io events"));
    }
    return ok();
}

Result<EventLoop> EventLoop::create() {
    sd_event* ev = nullptr;
    int r = sd_event_new(&ev);
    if (r < 0) {
        return fail(Error::with_errno(-r, "create event loop"));
    }
    return EventLoop(ev);
}

EventLoop::~EventLoop() {
    if (ev_ != nullptr) {
        sd_event_unref(ev_);
    }
}

EventLoop::EventLoop(EventLoop&& o) noexcept : ev_(std::exchange(o.ev_, nullptr)) {}

EventLoop& EventLoop::operator=(EventLoop&& o) noexcept {
    if (this != &o) {
        if (ev_ != nullptr) {
            sd_event_unref(ev_);
        }
        ev_ = std::exchange(o.ev_, nullptr);
    }
    return *this;
}

Result<Source> EventLoop::on_signal(int sig, SignalFn fn) {
    GANTRY_TRY(block_signal(sig));
    auto h = std::make_unique<Source::Holder>(Source::Holder{std::move(fn)});
    sd_event_source* s = nullptr;
    int r = sd_event_add_signal(ev_, &s, sig, on_signal_cb, h.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, fmt::format("watch signal {}", sig)));
    }
    return Source(s, std::move(h));
}

Result<Source> EventLoop::on_child(const PidFd& child, ChildFn fn) {
    GANTRY_TRY(block_signal(SIGCHLD));
    auto h = std::make_unique<Source::Holder>(Source::Holder{std::move(fn)});
    sd_event_source* s = nullptr;
    int r = sd_event_add_child_pidfd(ev_, &s, child.fd(), WEXITED, on_child_cb, h.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, fmt::format("watch child pid {}", child.pid())));
    }
    // The PidFd owns the fd; sd-event must not close it.
    sd_event_source_set_child_pidfd_own(s, 0);
    return Source(s, std::move(h));
}

Result<Source> EventLoop::on_io(int fd, uint32_t events, IoFn fn) {
    auto h = std::make_unique<Source::Holder>(Source::Holder{std::move(fn)});
    sd_event_source* s = nullptr;
    int r = sd_event_add_io(ev_, &s, fd, events, on_io_cb, h.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, fmt::format("watch fd {}", fd)));
    }
    return Source(s, std::move(h));
}

Result<Source> EventLoop::after(Duration after, TimerFn fn) {
    auto h = std::make_unique<Source::Holder>(Source::Holder{std::move(fn)});
    sd_event_source* s = nullptr;
    int r = sd_event_add_time_relative(ev_, &s, CLOCK_MONOTONIC, to_usec(after), kTimerAccuracyUsec,
                                       on_time_cb, h.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, "add timer"));
    }
    return Source(s, std::move(h));
}

Result<Source> EventLoop::defer(TimerFn fn) {
    auto h = std::make_unique<Source::Holder>(Source::Holder{std::move(fn)});
    sd_event_source* s = nullptr;
    int r = sd_event_add_defer(ev_, &s, on_defer_cb, h.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, "add deferred call"));
    }
    return Source(s, std::move(h));
}

Result<int> EventLoop::run() {
    int r = sd_event_loop(ev_);
    if (r < 0) {
        return fail(Error::with_errno(-r, "run event loop"));
    }
    return r;
}

Status EventLoop::run_once(Duration timeout) {
    int r = sd_event_run(ev_, to_usec(timeout));
    if (r < 0) {
        return fail(Error::with_errno(-r, "run event loop iteration"));
    }
    return ok();
}

void EventLoop::exit(int code) {
    sd_event_exit(ev_, code);
}

Duration EventLoop::now() const {
    uint64_t usec = 0;
    if (sd_event_now(ev_, CLOCK_MONOTONIC, &usec) < 0) {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    }
    return std::chrono::microseconds(usec);
}

}  // namespace gantry
