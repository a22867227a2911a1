// gantry-build image: the binary end to end, plus the builder library's guarantees.
#include "rootfs-build/image_builder.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/oci.h"

namespace gantry::build {
namespace {

struct Tmp {
    std::string path = *image::make_temp_dir("/tmp", "gantry-build-test-");
    ~Tmp() { (void)image::remove_tree(path); }
    std::string operator/(const std::string& r) const { return path + "/" + r; }
};

int run_build(const std::vector<std::string>& args, std::string* out) {
    auto p = make_pipe();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p->write.get(), 1);
        ::dup2(p->write.get(), 2);
        std::vector<char*> argv{const_cast<char*>(GANTRY_BUILD_BIN), const_cast<char*>("image")};
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(GANTRY_BUILD_BIN, argv.data());
        ::_exit(127);
    }
    p->write.reset();
    *out = *read_all(p->read.get());
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(GantryBuildImage, BusyboxLayoutAndTar) {
    if (::access("/bin/busybox", X_OK) != 0) {
        GTEST_SKIP() << "needs /bin/busybox (Debian busybox-static)";
    }
    Tmp t;
    ASSERT_TRUE(write_file_atomic(t / "spec.json", R"({"base": "busybox", "tag": "1.0",
        "layers": [{"files": [{"path": "/etc/app.conf", "content": "x=1\n"}]}],
        "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["A=1"]}})"));
    std::string out;
    ASSERT_EQ(
        run_build({"--spec", t / "spec.json", "--out", t / "layout", "--tar", t / "l.tar"}, &out),
        0)
        << out;
    auto idx = image::parse_index(*read_file(t / "layout/index.json"));
    ASSERT_TRUE(idx) << idx.error().str();
    ASSERT_EQ(idx->manifests.size(), 1u);
    EXPECT_EQ(idx->manifests[0].annotations["org.opencontainers.image.ref.name"], "1.0");
    EXPECT_EQ(out, idx->manifests[0].digest.str() + "\n");
    auto m = image::parse_manifest(
        *read_file(t / ("layout/blobs/sha256/" + idx->manifests[0].digest.hex())));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->layers.size(), 2u);
    auto cfg = image::parse_image_config(
        *read_file(t / ("layout/blobs/sha256/" + m->config.digest.hex())));
    ASSERT_TRUE(cfg);
    EXPECT_EQ(cfg->config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
    EXPECT_EQ(cfg->diff_ids.size(), 2u);
    EXPECT_EQ(::access((t / "l.tar").c_str(), F_OK), 0);
    // Reproducible: the same spec gives the same digest.
    std::string again;
    ASSERT_EQ(run_build({"--spec", t / "spec.json", "--out", t / "layout2"}, &again), 0);
    EXPECT_EQ(again, out);
}

TEST(GantryBuildImage, MultiPlatformMakesAnIndex) {
    Tmp t;
    auto spec = parse_build_spec(R"({"base": "scratch", "platforms": ["linux/amd64",
        "linux/arm64/v8"], "compression": "zstd",
        "layers": [{"files": [{"path": "/x", "content": "x"}]}]})");
    ASSERT_TRUE(spec) << spec.error().str();
    auto built = build_oci_layout(*spec, t / "l");
    ASSERT_TRUE(built) << built.error().str();
    EXPECT_EQ(built->media_type, image::media::kOciIndex);
    auto idx = image::parse_index(*read_file(t / ("l/blobs/sha256/" + built->top.hex())));
    ASSERT_TRUE(idx);
    ASSERT_EQ(idx->manifests.size(), 2u);
    EXPECT_EQ(idx->manifests[1].platform->variant, "v8");
}

TEST(GantryBuildImage, BadSpecsAreErrors) {
    EXPECT_FALSE(parse_build_spec("{"));
    EXPECT_FALSE(parse_build_spec(R"({"base": "alpine"})"));
    EXPECT_FALSE(parse_build_spec(R"({"layers": [{"files": [{"content": "no path"}]}]})"));
    Tmp t;
    std::string out;
    EXPECT_EQ(run_build({"--bogus"}, &out), 2);
    ASSERT_TRUE(write_file_atomic(t / "bad.json", R"({"base": "scratch", "compression": "lz4"})"));
    EXPECT_EQ(run_build({"--spec", t / "bad.json", "--out", t / "o"}, &out), 1);
    EXPECT_NE(out.find("lz4"), std::string::npos) << out;
}

}  // namespace
}  // namespace gantry::build
