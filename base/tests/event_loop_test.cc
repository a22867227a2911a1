#include "base/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <stdexcept>

#include "base/fd.h"

namespace gantry {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, TimerFiresAndExits) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    Duration start = loop->now();
    auto t = loop->after(20ms, [&] { loop->exit(5); });
    ASSERT_TRUE(t);
    auto r = loop->run();
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 5);
    EXPECT_GE(loop->now() - start, 20ms);
}

TEST(EventLoop, TimerRearms) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    int fired = 0;
    Source t;
    auto src = loop->after(1ms, [&] {
        if (++fired == 3) {
            loop->exit(0);
        } else {
            ASSERT_TRUE(t.rearm(1ms));
        }
    });
    ASSERT_TRUE(src);
    t = std::move(*src);
    ASSERT_TRUE(loop->run());
    EXPECT_EQ(fired, 3);
}

TEST(EventLoop, ChildExitSeenThroughPidfd) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto child = PidFd::fork();
    ASSERT_TRUE(child);
    if (!child->has_value()) {
        _exit(9);
    }
    PidFd p = std::move(**child);
    ExitStatus seen;
    auto src = loop->on_child(p, [&](const ExitStatus& st) {
        seen = st;
        loop->exit(0);
    });
    ASSERT_TRUE(src) << src.error().str();
    ASSERT_TRUE(loop->run());
    EXPECT_EQ(seen.code, 9);
    // The loop reaped it: nothing is left to wait for.
    EXPECT_FALSE(p.wait());
}

TEST(EventLoop, ChildKilledBySignal) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto child = PidFd::fork();
    ASSERT_TRUE(child);
    if (!child->has_value()) {
        for (;;) {
            pause();
        }
    }
    PidFd p = std::move(**child);
    ExitStatus seen;
    auto src = loop->on_child(p, [&](const ExitStatus& st) {
        seen = st;
        loop->exit(0);
    });
    ASSERT_TRUE(src);
    ASSERT_TRUE(p.send_signal(SIGTERM));
    ASSERT_TRUE(loop->run());
    EXPECT_EQ(seen.kind, ExitStatus::Kind::Killed);
    EXPECT_EQ(seen.signal, SIGTERM);
}

TEST(EventLoop, SignalDelivered) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    int got = 0;
    auto src = loop->on_signal(SIGUSR2, [&](const signalfd_siginfo& si) {
        got = static_cast<int>(si.ssi_signo);
        loop->exit(0);
    });
    ASSERT_TRUE(src);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT_TRUE(loop->run());
    EXPECT_EQ(got, SIGUSR2);
}

TEST(EventLoop, IoReadable) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto p = make_pipe();
    ASSERT_TRUE(p);
    std::string got;
    auto src = loop->on_io(p->read.get(), EPOLLIN, [&](uint32_t) {
        char buf[16];
        ssize_t n = read(p->read.get(), buf, sizeof buf);
        got.assign(buf, static_cast<size_t>(n));
        loop->exit(0);
    });
    ASSERT_TRUE(src);
    ASSERT_TRUE(write_all(p->write.get(), "hi"));
    ASSERT_TRUE(loop->run());
    EXPECT_EQ(got, "hi");
}

TEST(EventLoop, ThrowingCallbackDoesNotKillTheLoop) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto bad = loop->defer([] { throw std::runtime_error("boom"); });
    ASSERT_TRUE(bad);
    bool later = false;
    auto good = loop->after(5ms, [&] {
        later = true;
        loop->exit(0);
    });
    ASSERT_TRUE(good);
    ASSERT_TRUE(loop->run());
    EXPECT_TRUE(later);
}

TEST(EventLoop, ResetSourceStopsCallbacks) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    bool fired = false;
    auto t = loop->after(1ms, [&] { fired = true; });
    ASSERT_TRUE(t);
    t->reset();
    auto stop = loop->after(20ms, [&] { loop->exit(0); });
    ASSERT_TRUE(stop);
    ASSERT_TRUE(loop->run());
    EXPECT_FALSE(fired);
}

TEST(EventLoop, WatchingBadFdIsAnError) {
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto src = loop->on_io(9999, EPOLLIN, [](uint32_t) {});
    ASSERT_FALSE(src);
    EXPECT_EQ(src.error().code(), EBADF);
}

}  // namespace
}  // namespace gantry
