#include "image/gc.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "image/fsutil.h"
#include "image/import.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

TEST(Gc, KeepsNamedRemovesUnnamedAndDeadStaging) {
    TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    testing::build_layout(testing::scratch_spec("two"), t / "b");
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
    ASSERT_TRUE(import_archive(s, t / "b", {.name = "b:1"}));
    ASSERT_EQ(testing::count_entries(t / "store/blobs/sha256"), 7u);
    // A dead import's staging dir, and an unpacked layer nobody names.
    ASSERT_TRUE(mkdir_p(t / "store/tmp/txn-dead"));
    ASSERT_TRUE(mkdir_p(t / ("store/layers/sha256/" + std::string(64, 'f'))));

    auto none = collect_garbage(s);
    ASSERT_TRUE(none) << none.error().str();
    EXPECT_TRUE(none->blobs_removed.empty());
    EXPECT_EQ(none->layers_removed.size(), 1u);
    EXPECT_EQ(none->staging_removed, 1u);

    ASSERT_TRUE(remove_image(s, "b:1", false));
    auto dry = collect_garbage(s, /*dry_run=*/true);
    ASSERT_TRUE(dry);
    EXPECT_EQ(dry->blobs_removed.size(), 3u);  // b's manifest, config, marker layer
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 7u);
    auto rep = collect_garbage(s);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->blobs_removed.size(), 3u);
    EXPECT_GT(rep->bytes_freed, 0u);
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 4u);
    auto a = s.load("a:1");
    ASSERT_TRUE(a) << a.error().str();  // the shared base layer survived
}

TEST(Gc, LiveTransactionIsNotCollected) {
    TempDir t;
    Store s = *Store::open(t / "store");
    auto txn = s.begin();
    ASSERT_TRUE(txn);
    ASSERT_TRUE(txn->put_bytes("staged", "text/plain"));
    auto rep = collect_garbage(s);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->staging_removed, 0u);
    struct stat st;
    EXPECT_EQ(::stat(txn->staging_dir().c_str(), &st), 0);
}

TEST(Gc, ContainerRecordKeepsLayersAndBlocksRemoval) {
    TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
    auto img = s.load("a:1");
    ASSERT_TRUE(img);
    std::string layer = t / ("store/layers/sha256/" + img->config.diff_ids[0].hex());
    ASSERT_TRUE(mkdir_p(layer));
    ASSERT_TRUE(mkdir_p(t / "store/containers/c1"));
    ASSERT_TRUE(write_file_atomic(t / "store/containers/c1/container.json",
                                  R"({"manifest":")" + img->record.digest.str() +
                                      R"(","layers":[")" + img->config.diff_ids[0].str() +
                                      R"("]})"));
    auto refused = remove_image(s, "a:1", false);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().str().find("used by a container"), std::string::npos);
    ASSERT_TRUE(remove_image(s, "a:1", true));
    ASSERT_TRUE(collect_garbage(s));
    struct stat st;
    EXPECT_EQ(::stat(layer.c_str(), &st), 0) << "a mounted container's layer was collected";
    EXPECT_EQ(testing::count_entries(t / "store/blobs/sha256"), 0u);
}

}  // namespace
}  // namespace gantry::image
