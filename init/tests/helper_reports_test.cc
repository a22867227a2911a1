// PID 1's end of a helper's report pipe: every byte is a report, and the helper's end, a
// crash included, is seen once and releases what waited for it.
#include "init/helper_reports.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace gantry::init {
namespace {

using namespace std::chrono_literals;

struct Watched {
    EventLoop loop = EventLoop::create().value();
    std::string bytes;
    int ends = 0;
    int raw_fd = -1;
    ino_t pipe_ino = 0;
    std::unique_ptr<HelperReports> reports;

    // A pipe whose write end only a forked "helper" holds; the helper runs `helper(fd)`.
    template <typename Fn>
    pid_t start(Fn helper) {
        int p[2];
        EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(p[0]);
            helper(p[1]);
            ::_exit(0);
        }
        ::close(p[1]);
        raw_fd = p[0];
        struct stat st {};
        EXPECT_EQ(::fstat(p[0], &st), 0);
        pipe_ino = st.st_ino;
        auto r = HelperReports::watch(
            loop, Fd(p[0]), [this](char c) { bytes += c; }, [this] { ++ends; });
        EXPECT_TRUE(r) << r.error().str();
        reports = std::move(*r);
        return pid;
    }
    // Turns the loop until the reports ended and the pipe is closed, or 5 s passed.
    void run_until_ended() {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!reports->ended() && std::chrono::steady_clock::now() < deadline) {
            ASSERT_TRUE(loop.run_once(100ms));
        }
        ASSERT_TRUE(reports->ended());
    }
};

TEST(HelperReports, BytesThenEndOfFileWhenTheHelperIsDone) {
    Watched w;
    pid_t pid = w.start([](int fd) { (void)!::write(fd, "nx", 2); });
    w.run_until_ended();
    EXPECT_EQ(w.bytes, "nx");
    EXPECT_EQ(w.ends, 1);
    EXPECT_EQ(::waitpid(pid, nullptr, 0), pid);
}

TEST(HelperReports, AKilledHelperEndsItOnceAndTheSourceGoes) {
    Watched w;
    // Reports once, then hangs until it is killed, like a helper stuck in a module's init.
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = w.start([&](int fd) {
        (void)!::write(fd, "n", 1);
        (void)!::write(ready[1], "r", 1);
        ::pause();
    });
    char c;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    for (int i = 0; i < 5 && w.bytes.empty(); ++i) {
        ASSERT_TRUE(w.loop.run_once(100ms));
    }
    EXPECT_EQ(w.bytes, "n");
    EXPECT_EQ(w.ends, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(::waitpid(pid, nullptr, 0), pid);
    w.run_until_ended();
    EXPECT_EQ(w.ends, 1);
    // The pipe is closed and off the loop: more turns call nothing (a closed pipe left on
    // the loop would wake it at once, again and again).
    struct stat st {};
    EXPECT_TRUE(::fstat(w.raw_fd, &st) < 0 || st.st_ino != w.pipe_ino);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(w.loop.run_once(20ms));
    }
    EXPECT_EQ(w.ends, 1);
    EXPECT_EQ(w.bytes, "n");
}

}  // namespace
}  // namespace gantry::init
