#include "supervisor/notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace gantry::supervisor {
namespace {

TEST(Notify, ParsesKnownKeys) {
    NotifyMessage m =
        parse_notify("READY=1\nSTATUS=Serving 3 clients\nWATCHDOG=1\nMAINPID=42\nERRNO=5");
    EXPECT_TRUE(m.ready);
    EXPECT_TRUE(m.watchdog);
    EXPECT_EQ(m.status, "Serving 3 clients");
    EXPECT_EQ(m.main_pid, 42);
    EXPECT_EQ(m.errno_value, 5);
    EXPECT_FALSE(m.stopping);
}

TEST(Notify, SkipsMalformedAndUnknown) {
    NotifyMessage m = parse_notify("garbage\nREADY=0\nX_FOO=1\n\nMAINPID=abc\nSTATUS=");
    EXPECT_FALSE(m.ready);
    EXPECT_FALSE(m.main_pid);
    EXPECT_EQ(m.status, "");
    EXPECT_FALSE(parse_notify("").ready);
    EXPECT_TRUE(parse_notify("STOPPING=1").stopping);
    EXPECT_TRUE(parse_notify("RELOADING=1\n").reloading);
    NotifyMessage t = parse_notify("WATCHDOG=trigger");
    EXPECT_TRUE(t.watchdog_trigger);
    EXPECT_FALSE(t.watchdog);
}

TEST(Notify, ExtendTimeout) {
    EXPECT_EQ(parse_notify("EXTEND_TIMEOUT_USEC=1500000").extend_timeout,
              std::chrono::microseconds(1500000));
    EXPECT_EQ(parse_notify("EXTEND_TIMEOUT_USEC=0").extend_timeout, std::chrono::microseconds(0));
    EXPECT_FALSE(parse_notify("EXTEND_TIMEOUT_USEC=-5").extend_timeout);
    EXPECT_FALSE(parse_notify("EXTEND_TIMEOUT_USEC=1s").extend_timeout);
    EXPECT_FALSE(parse_notify("EXTEND_TIMEOUT_USEC=99999999999999999999").extend_timeout);
    EXPECT_FALSE(parse_notify("READY=1").extend_timeout);
}

TEST(Notify, SocketCarriesSenderPid) {
    char dir[] = "/tmp/notify_testXXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string path = std::string(dir) + "/n.sock";
    auto fd = bind_notify_socket(path);
    ASSERT_TRUE(fd) << fd.error().str();
    auto none = receive_notify(fd->get());
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);

    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path.c_str());
    const char msg[] = "READY=1";
    ASSERT_EQ(sendto(s, msg, 7, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 7);
    close(s);
    auto d = receive_notify(fd->get());
    ASSERT_TRUE(d);
    ASSERT_TRUE(*d);
    EXPECT_EQ((*d)->data, "READY=1");
    EXPECT_EQ((*d)->sender, getpid());
    unlink(path.c_str());
    rmdir(dir);
}

}  // namespace
}  // namespace gantry::supervisor
