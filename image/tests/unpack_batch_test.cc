// ensure_layers(): an image's missing layers unpacked together, published only complete.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "image/import.h"
#include "image/layer_batch.h"
#include "image/rootfs.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

struct Fixture {
    TempDir t;
    Store s = *Store::open(t / "store");
    Image img;
    Fixture() {
        testing::build_layout(testing::scratch_spec("batch"), t / "a");
        EXPECT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
        img = *s.load("a:1");
    }
};

TEST(LayerBatch, UnpacksEveryLayerInParallelAndOnlyOnce) {
    for (unsigned parallel : {1u, 2u, 4u}) {
        Fixture f;
        auto dirs = ensure_layers(f.s, f.img.manifest.layers, f.img.config.diff_ids,
                                  {.parallel = parallel});
        ASSERT_TRUE(dirs) << dirs.error().str();
        ASSERT_EQ(dirs->size(), 2u);
        EXPECT_EQ(testing::slurp((*dirs)[0] + "/etc/base"), "base layer\n");
        EXPECT_EQ(testing::slurp((*dirs)[1] + "/etc/marker"), "batch\n");
        struct stat st;
        ASSERT_EQ(::stat(((*dirs)[0] + "/bin/tool").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0755u);
        EXPECT_EQ(testing::count_entries(f.t / "store/tmp"), 0u);
        // Present layers are left alone; the same layer twice is one directory.
        ASSERT_EQ(::mkdir(((*dirs)[1] + "/kept").c_str(), 0755), 0);
        auto twice = f.img.manifest.layers;
        twice.push_back(twice[1]);
        auto ids = f.img.config.diff_ids;
        ids.push_back(ids[1]);
        auto again = ensure_layers(f.s, twice, ids);
        ASSERT_TRUE(again) << again.error().str();
        EXPECT_EQ((*again)[2], (*dirs)[1]);
        EXPECT_TRUE(::access(((*dirs)[1] + "/kept").c_str(), F_OK) == 0);
        // The one-layer entry point is the same path.
        auto one = ensure_layer(f.s, f.img.manifest.layers[0], f.img.config.diff_ids[0]);
        ASSERT_TRUE(one) << one.error().str();
        EXPECT_EQ(*one, (*dirs)[0]);
    }
}

TEST(LayerBatch, OneBadLayerPublishesNothing) {
    Fixture f;
    auto wrong = f.img.config.diff_ids;
    std::swap(wrong[0], wrong[1]);  // neither layer's content hashes to its diff_id now
    auto r = ensure_layers(f.s, f.img.manifest.layers, wrong, {.parallel = 2});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("hashes to"), std::string::npos) << r.error().str();
    EXPECT_EQ(testing::count_entries(f.t / "store/layers/sha256"), 0u);
    EXPECT_EQ(testing::count_entries(f.t / "store/tmp"), 0u);
    auto mismatch = ensure_layers(f.s, f.img.manifest.layers, {f.img.config.diff_ids[0]});
    EXPECT_FALSE(mismatch);
}

}  // namespace
}  // namespace gantry::image
