#include "base/fd.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace gantry {
namespace {

bool fd_is_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

TEST(Fd, ClosesOnDestruction) {
    int raw;
    {
        auto p = make_pipe();
        ASSERT_TRUE(p);
        raw = p->read.get();
        EXPECT_TRUE(fd_is_open(raw));
    }
    EXPECT_FALSE(fd_is_open(raw));
}

TEST(Fd, MoveTransfersOwnership) {
    auto p = make_pipe();
    ASSERT_TRUE(p);
    Fd a = std::move(p->read);
    EXPECT_FALSE(p->read.valid());
    Fd b;
    b = std::move(a);
    EXPECT_FALSE(a.valid());
    EXPECT_TRUE(fd_is_open(b.get()));
}

TEST(Fd, ReleaseDoesNotClose) {
    auto p = make_pipe();
    ASSERT_TRUE(p);
    int raw = p->read.release();
    EXPECT_FALSE(p->read.valid());
    EXPECT_TRUE(fd_is_open(raw));
    ::close(raw);
}

TEST(Fd, EveryOpenIsCloexec) {
    auto f = Fd::open("/proc/self/status", O_RDONLY);
    ASSERT_TRUE(f);
    EXPECT_TRUE(::fcntl(f->get(), F_GETFD) & FD_CLOEXEC);
    auto d = f->dup();
    ASSERT_TRUE(d);
    EXPECT_TRUE(::fcntl(d->get(), F_GETFD) & FD_CLOEXEC);
    auto p = make_pipe();
    ASSERT_TRUE(p);
    EXPECT_TRUE(::fcntl(p->write.get(), F_GETFD) & FD_CLOEXEC);
}

TEST(Fd, OpenErrorNamesThePath) {
    auto f = Fd::open("/nonexistent/x", O_RDONLY);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code(), ENOENT);
    EXPECT_EQ(f.error().str(), "open '/nonexistent/x': No such file or directory");
}

TEST(Fd, WriteToClosedFdIsEbadf) {
    int raw;
    {
        auto p = make_pipe();
        ASSERT_TRUE(p);
        raw = p->write.get();
    }
    auto r = write_all(raw, "x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), EBADF);
    auto rd = read_all(raw);
    ASSERT_FALSE(rd);
    EXPECT_EQ(rd.error().code(), EBADF);
}

TEST(Fd, ReadAllAndWriteAllRoundTripLargeData) {
    auto p = make_pipe();
    ASSERT_TRUE(p);
    std::string data(50000, 'x');
    pid_t child = fork();
    if (child == 0) {
        p->read.reset();
        _exit(write_all(p->write.get(), data) ? 0 : 1);
    }
    p->write.reset();
    auto got = read_all(p->read.get());
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, data);
    int st;
    waitpid(child, &st, 0);
}

TEST(Fd, WriteFileAtomicReplacesWholeFile) {
    char tmpl[] = "/tmp/gantry-fd-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    std::string path = std::string(tmpl) + "/f";
    ASSERT_TRUE(write_file_atomic(path, "first version", 0600));
    ASSERT_TRUE(write_file_atomic(path, "second"));
    auto got = read_file(path);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, "second");
    EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0);
    auto bad = write_file_atomic(std::string(tmpl) + "/missing/f", "x");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ENOENT);
    std::string cmd = std::string("rm -rf ") + tmpl;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace
}  // namespace gantry
