// gantryctl image commands (ctl/image_*.cc), driven through image_command() with the
// store in a temp dir; stdout is captured through a temp file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ctl/image_cmd.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

struct Run {
    int rc;
    std::string out;
};

Run ctl(const TempDir& t, std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--store", t / "store"});
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    fflush(stdout);
    int saved = ::dup(1);
    auto f = Fd::open(t / "out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(f->get(), 1);
    int rc = ctl::image_command(static_cast<int>(argv.size()), argv.data());
    fflush(stdout);
    ::dup2(saved, 1);
    ::close(saved);
    return {rc, testing::slurp(t / "out")};
}

TEST(CtlImage, ImportLsInspectRmPrune) {
    TempDir t;
    testing::build_layout(testing::scratch_spec("one"), t / "layout");
    ASSERT_TRUE(build::write_dir_tar(t / "layout", t / "image.tar"));
    auto imp = ctl(t, {"import", t / "image.tar", "web:1.0"});
    ASSERT_EQ(imp.rc, 0) << imp.out;
    EXPECT_NE(imp.out.find("Loaded image: docker.io/library/web:1.0"), std::string::npos);

    auto ls = ctl(t, {"ls"});
    ASSERT_EQ(ls.rc, 0);
    EXPECT_NE(ls.out.find("docker.io/library/web:1.0"), std::string::npos) << ls.out;
    EXPECT_NE(ls.out.find("seconds ago"), std::string::npos) << ls.out;

    auto ins = ctl(t, {"inspect", "web:1.0"});
    ASSERT_EQ(ins.rc, 0);
    auto j = nlohmann::json::parse(ins.out);
    EXPECT_EQ(j["serviceDefaults"]["argv"], nlohmann::json::array({"/bin/tool"}));
    EXPECT_EQ(j["layers"].size(), 2u);

    EXPECT_EQ(ctl(t, {"rm", "web:1.0"}).rc, 0);
    EXPECT_NE(ctl(t, {"inspect", "web:1.0"}).rc, 0);
    auto prune = ctl(t, {"prune"});
    ASSERT_EQ(prune.rc, 0);
    EXPECT_NE(prune.out.find("Removed 4 blobs"), std::string::npos) << prune.out;
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 0u);
}

TEST(CtlImage, UsageErrors) {
    TempDir t;
    EXPECT_EQ(ctl(t, {"frobnicate"}).rc, 2);
    EXPECT_EQ(ctl(t, {"pull"}).rc, 2);
    EXPECT_EQ(ctl(t, {"pull", "x", "--platform", "a/b/c/d"}).rc, 2);
    EXPECT_EQ(ctl(t, {"import", t / "missing.tar"}).rc, 1);
}

}  // namespace
}  // namespace gantry::image
