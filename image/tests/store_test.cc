#include "image/store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "image/fsutil.h"
#include "image/import.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

Store open_store(const TempDir& t) {
    auto s = Store::open(t / "store");
    EXPECT_TRUE(s) << s.error().str();
    return *s;
}

TEST(Digest, ParsesAndHashes) {
    EXPECT_EQ(sha256_of("").str(),
              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_FALSE(
        Digest::parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    EXPECT_FALSE(Digest::parse("sha256:abc"));
    EXPECT_FALSE(Digest::parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

TEST(Store, ImportsLayoutDirectory) {
    TempDir t;
    auto built = testing::build_layout(testing::scratch_spec("one"), t / "layout");
    Store s = open_store(t);
    auto recs = import_archive(s, t / "layout", {.name = "web"});
    ASSERT_TRUE(recs) << recs.error().str();
    ASSERT_EQ(recs->size(), 1u);
    EXPECT_EQ((*recs)[0].name, "docker.io/library/web:v1");  // the layout's own tag
    EXPECT_EQ((*recs)[0].digest, built.top);
    auto img = s.load("web:v1");
    ASSERT_TRUE(img) << img.error().str();
    EXPECT_EQ(img->manifest.layers.size(), 2u);
    EXPECT_EQ(img->config.config.cmd, std::vector<std::string>{"/bin/tool"});
    // manifest + config + 2 layers
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 4u);
    // Found by digest and by short id too.
    EXPECT_TRUE(s.find(built.top.str()));
    EXPECT_TRUE(s.find(built.top.hex().substr(0, 12)));
    EXPECT_FALSE(s.find("web:v2"));
    EXPECT_TRUE(s.find("web@" + built.top.str()));
    EXPECT_FALSE(s.find("we@" + built.top.str())) << "a repository prefix is not a match";
}

TEST(Store, ImportsLayoutTarAndSharesBlobs) {
    TempDir t;
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    testing::build_layout(testing::scratch_spec("two"), t / "b");
    ASSERT_TRUE(build::write_dir_tar(t / "b", t / "b.tar"));
    Store s = open_store(t);
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "app:1"}));
    auto r = import_archive(s, t / "b.tar", {.name = "app:2"});
    ASSERT_TRUE(r) << r.error().str();
    // The base layer is shared: 4 blobs + (manifest, config, marker layer) of the second.
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 7u);
    auto list = s.list();
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].name, "docker.io/library/app:1");
    // Nothing left in staging after a commit.
    EXPECT_EQ(testing::count_entries(t / "store/tmp"), 0u);
}

TEST(Store, ZstdAndPlainLayersImport) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("z", "zstd"), t / "z");
    testing::build_layout(testing::scratch_spec("n", "none"), t / "n");
    EXPECT_TRUE(import_archive(s, t / "z", {.name = "z:1"}));
    EXPECT_TRUE(import_archive(s, t / "n", {.name = "n:1"}));
}

// Flips one byte of the marker layer blob in a layout.
void corrupt_layer(const std::string& layout, const Store& s, const std::string& name) {
    (void)s;
    (void)name;
    auto idx = nlohmann::json::parse(testing::slurp(layout + "/index.json"));
    auto mdig = Digest::parse(idx["manifests"][0]["digest"].get<std::string>());
    auto m = parse_manifest(testing::slurp(layout + "/blobs/sha256/" + mdig->hex()));
    std::string path = layout + "/blobs/sha256/" + m->layers.back().digest.hex();
    std::string data = testing::slurp(path);
    data[data.size() / 2] ^= 0x55;
    ASSERT_TRUE(write_file_atomic(path, data));
}

TEST(Store, CorruptBlobIsRejectedAndStoreUnchanged) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("one"), t / "good");
    ASSERT_TRUE(import_archive(s, t / "good", {.name = "good:1"}));
    std::string index_before = testing::slurp(t / "store/index.json");
    size_t blobs_before = testing::count_entries(t / "store/blobs/sha256");

    testing::build_layout(testing::scratch_spec("bad"), t / "bad");
    corrupt_layer(t / "bad", s, "bad");
    auto r = import_archive(s, t / "bad", {.name = "bad:1"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("corrupt or tampered"), std::string::npos) << r.error().str();
    EXPECT_EQ(testing::slurp(t / "store/index.json"), index_before);
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), blobs_before);
    EXPECT_EQ(testing::count_entries(t / "store/tmp"), 0u);
}

TEST(Store, WrongSizeIsRejected) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("one"), t / "l");
    // Append a byte to the config blob: digest and size both stop matching.
    auto idx = nlohmann::json::parse(testing::slurp(t / "l/index.json"));
    auto mdig = Digest::parse(idx["manifests"][0]["digest"].get<std::string>());
    auto m = parse_manifest(testing::slurp(t / "l/blobs/sha256/" + mdig->hex()));
    std::string p = t / ("l/blobs/sha256/" + m->config.digest.hex());
    ASSERT_TRUE(write_file_atomic(p, testing::slurp(p) + " "));
    auto r = import_archive(s, t / "l", {.name = "x:1"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("size is"), std::string::npos) << r.error().str();
    EXPECT_FALSE(s.find("x:1"));
}

TEST(Store, CrashMidImportLeavesStoreAsItWas) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
    std::string index_before = testing::slurp(t / "store/index.json");
    testing::build_layout(testing::scratch_spec("two"), t / "b");
    // The child stages a whole image and dies before commit, as a power cut would.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto txn = s.begin();
        auto idx = parse_index(testing::slurp(t / "b/index.json"));
        if (!txn || !idx) {
            ::_exit(1);
        }
        auto m =
            stage_from_layout(*txn, t / "b", idx->manifests[0], Platform::host(), nullptr, false);
        ::_exit(m ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(testing::slurp(t / "store/index.json"), index_before);
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 4u);
    EXPECT_EQ(testing::count_entries(t / "store/tmp"), 1u);  // the dead txn, for GC
    EXPECT_TRUE(s.load("a:1"));
}

TEST(Store, MultiPlatformIndexPicksPlatform) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(R"({"base": "scratch", "platforms": ["linux/amd64", "linux/arm64"],
        "layers": [{"files": [{"path": "/x", "content": "x"}]}], "tag": "multi"})",
                          t / "l");
    auto r = import_archive(s, t / "l", {.name = "m", .platform = *Platform::parse("linux/arm64")});
    ASSERT_TRUE(r) << r.error().str();
    auto img = s.load("m:multi");
    ASSERT_TRUE(img) << img.error().str();
    EXPECT_EQ(img->config.platform.architecture, "arm64");
    EXPECT_FALSE(img->record.index_digest.empty());
    EXPECT_TRUE(s.find(img->record.index_digest.str()));
    auto bad =
        import_archive(s, t / "l", {.name = "m2", .platform = *Platform::parse("linux/s390x")});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().str().find("linux/amd64, linux/arm64"), std::string::npos)
        << bad.error().str();
}

TEST(Store, ImportsDockerSaveArchive) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("d", "none"), t / "l");
    // Re-pack the layout the way `docker save` (before Docker 25) lays out its tar.
    auto idx = nlohmann::json::parse(testing::slurp(t / "l/index.json"));
    auto mdig = Digest::parse(idx["manifests"][0]["digest"].get<std::string>());
    auto m = parse_manifest(testing::slurp(t / ("l/blobs/sha256/" + mdig->hex())));
    ASSERT_TRUE(mkdir_p(t / "save"));
    std::string cfg = testing::slurp(t / ("l/blobs/sha256/" + m->config.digest.hex()));
    ASSERT_TRUE(write_file_atomic(t / ("save/" + m->config.digest.hex() + ".json"), cfg));
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : m->layers) {
        ASSERT_TRUE(mkdir_p(t / ("save/" + l.digest.hex())));
        ASSERT_TRUE(write_file_atomic(t / ("save/" + l.digest.hex() + "/layer.tar"),
                                      testing::slurp(t / ("l/blobs/sha256/" + l.digest.hex()))));
        layers.push_back(l.digest.hex() + "/layer.tar");
    }
    nlohmann::json man = nlohmann::json::array({{{"Config", m->config.digest.hex() + ".json"},
                                                 {"RepoTags", {"saved:3"}},
                                                 {"Layers", layers}}});
    ASSERT_TRUE(write_file_atomic(t / "save/manifest.json", man.dump()));
    ASSERT_TRUE(build::write_dir_tar(t / "save", t / "save.tar"));
    auto r = import_archive(s, t / "save.tar");
    ASSERT_TRUE(r) << r.error().str();
    auto img = s.load("saved:3");
    ASSERT_TRUE(img) << img.error().str();
    EXPECT_EQ(img->manifest.layers.size(), 2u);
    EXPECT_EQ(img->manifest.layers[0].digest, img->config.diff_ids[0]);
}

TEST(Store, UnnamedLayoutNeedsAName) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("one"), t / "l");
    auto r = import_archive(s, t / "l");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("pass a name"), std::string::npos) << r.error().str();
}

TEST(Store, UntagRemovesName) {
    TempDir t;
    Store s = open_store(t);
    testing::build_layout(testing::scratch_spec("one"), t / "l");
    ASSERT_TRUE(import_archive(s, t / "l", {.name = "u:1"}));
    ASSERT_TRUE(s.untag("u:1"));
    EXPECT_FALSE(s.find("u:1"));
    EXPECT_FALSE(s.untag("u:1"));
}

}  // namespace
}  // namespace gantry::image
