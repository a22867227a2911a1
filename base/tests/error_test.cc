#include "base/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace gantry {
namespace {

Result<int> fails_with_enoent() {
    errno = ENOENT;
    return fail(Error::sys("open '{}'", "/nope"));
}

Result<int> adds_context() {
    int v = GANTRY_TRY_CTX(fails_with_enoent(), "mount {}", "/var");
    return v + 1;
}

Status try_status(bool good) {
    if (!good) {
        return fail(Error::msg("bad"));
    }
    return ok();
}

Status uses_try_on_status(bool good) {
    GANTRY_TRY(try_status(good));
    return ok();
}

TEST(Error, SysKeepsErrnoAndFormatsLikeCrun) {
    auto r = adds_context();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ENOENT);
    EXPECT_EQ(r.error().str(), "mount /var: open '/nope': No such file or directory");
    EXPECT_EQ(r.error().message(), "open '/nope'");
    ASSERT_EQ(r.error().contexts().size(), 1u);
}

TEST(Error, MsgHasNoErrno) {
    Error e = Error::msg("value {} out of range", 7);
    EXPECT_EQ(e.code(), 0);
    EXPECT_EQ(e.str(), "value 7 out of range");
}

TEST(Error, ContextChainsOutermostFirst) {
    Error e = Error::with_errno(EBADF, "read");
    e.context("inner").context("outer");
    EXPECT_EQ(e.str(), "outer: inner: read: Bad file descriptor");
}

TEST(Error, TryPropagatesStatus) {
    EXPECT_TRUE(uses_try_on_status(true));
    auto r = uses_try_on_status(false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().str(), "bad");
}

TEST(Error, FormatsThroughFmt) {
    EXPECT_EQ(fmt::format("{}", Error::with_errno(EINTR, "wait")), "wait: Interrupted system call");
}

}  // namespace
}  // namespace gantry
