// Root tests: container roots really mounted with overlayfs, from images built with
// gantry-build's busybox base.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/fsutil.h"
#include "image/import.h"
#include "image/rootfs.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

bool can_mount_overlay() {
    return ::geteuid() == 0;
}

// Runs `sh -c script` chrooted into `root`; returns its stdout.
std::string run_in(const std::string& root, const std::string& script) {
    auto p = make_pipe();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p->write.get(), 1);
        if (::chroot(root.c_str()) != 0 || ::chdir("/") != 0) {
            ::_exit(120);
        }
        ::execl("/bin/sh", "sh", "-c", script.c_str(), nullptr);
        ::_exit(121);
    }
    p->write.reset();
    auto out = read_all(p->read.get());
    int status = 0;
    ::waitpid(pid, &status, 0);
    return out ? *out : "";
}

class RootfsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!can_mount_overlay()) {
            GTEST_SKIP() << "needs root to mount overlayfs";
        }
        if (::access("/bin/busybox", X_OK) != 0) {
            GTEST_SKIP() << "needs /bin/busybox (Debian busybox-static)";
        }
        store_ = std::make_unique<Store>(*Store::open(t_ / "store"));
    }
    void TearDown() override {
        for (const auto& m : mounts_) {
            (void)unmount_rootfs(m);
        }
    }
    std::string mount_point(const std::string& name) {
        EXPECT_TRUE(mkdir_p(t_ / name));
        mounts_.push_back(t_ / name);
        return t_ / name;
    }
    Image import(const std::string& spec, const std::string& name) {
        testing::build_layout(spec, t_ / name);
        auto r = import_archive(*store_, t_ / name, {.name = name + ":1"});
        EXPECT_TRUE(r) << r.error().str();
        auto img = store_->load(name + ":1");
        EXPECT_TRUE(img) << img.error().str();
        return *img;
    }

    TempDir t_;
    std::unique_ptr<Store> store_;
    std::vector<std::string> mounts_;
};

const char* kAppSpec = R"({"base": "busybox",
    "layers": [{"files": [{"path": "/etc/app.conf", "content": "v1\n"},
                          {"path": "/etc/.wh.group", "content": ""},
                          {"path": "/root/.wh..wh..opq", "content": ""},
                          {"path": "/root/new", "content": "n"}]}],
    "config": {"Cmd": ["/bin/sh"]}})";

TEST_F(RootfsTest, MountsLayersWithUpperAndRunsBusybox) {
    Image img = import(kAppSpec, "app");
    std::string root = mount_point("root");
    auto plan = prepare_rootfs(*store_, img, "c1", root, false);
    ASSERT_TRUE(plan) << plan.error().str();
    EXPECT_EQ(plan->lower.size(), 2u);
    EXPECT_EQ(testing::slurp(root + "/etc/app.conf"), "v1\n");
    EXPECT_NE(::access((root + "/etc/passwd").c_str(), F_OK), -1);
    EXPECT_EQ(::access((root + "/etc/group").c_str(), F_OK), -1) << "whiteout did not hide it";
    // The busybox shell from the base layer runs, and writes land in the upper dir only.
    EXPECT_EQ(run_in(root, "echo hello > /tmp/f && cat /etc/app.conf && ls /root"), "v1\nnew\n");
    EXPECT_EQ(testing::slurp(store_->root() + "/containers/c1/upper/tmp/f"), "hello\n");
    EXPECT_NE(::access((layer_dir(store_->root(), img.config.diff_ids[1]) + "/tmp").c_str(), F_OK),
              0);
}

TEST_F(RootfsTest, ReadOnlyRootRefusesWrites) {
    Image img = import(kAppSpec, "app");
    std::string root = mount_point("ro");
    auto plan = prepare_rootfs(*store_, img, "c2", root, true);
    ASSERT_TRUE(plan) << plan.error().str();
    int fd = ::open((root + "/etc/x").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    EXPECT_LT(fd, 0);
    EXPECT_EQ(errno, EROFS);
    if (fd >= 0) {
        ::close(fd);
    }
}

TEST_F(RootfsTest, ImagesShareTheBaseLayer) {
    Image a = import(kAppSpec, "app");
    Image b = import(R"({"base": "busybox",
        "layers": [{"files": [{"path": "/etc/other", "content": "b"}]}]})",
                     "other");
    ASSERT_EQ(a.config.diff_ids[0], b.config.diff_ids[0]);
    std::string ra = mount_point("ra"), rb = mount_point("rb");
    ASSERT_TRUE(prepare_rootfs(*store_, a, "a", ra, false));
    ASSERT_TRUE(prepare_rootfs(*store_, b, "b", rb, false));
    // Three layer dirs: busybox (shared), app's and other's.
    EXPECT_EQ(testing::count_entries(store_->root() + "/layers/sha256"), 3u);
    EXPECT_EQ(testing::slurp(rb + "/etc/other"), "b");
    EXPECT_NE(::access((ra + "/etc/other").c_str(), F_OK), 0);
    // Writes in one container do not show in the other.
    ASSERT_TRUE(write_file_atomic(ra + "/etc/mine", "a"));
    EXPECT_NE(::access((rb + "/etc/mine").c_str(), F_OK), 0);
    ASSERT_TRUE(unmount_rootfs(ra));
    ASSERT_TRUE(remove_container(*store_, "a"));
    EXPECT_NE(::access((store_->root() + "/containers/a").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace gantry::image
