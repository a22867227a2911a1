// The store-read part PID 1 links (gantry_image_store): which layers are unpacked, and
// mounting refuses clearly when one is not (PID 1 never unpacks).
#include <gtest/gtest.h>
#include <unistd.h>

#include "image/import.h"
#include "image/overlay.h"
#include "image/rootfs.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

TEST(OverlayStore, MissingLayersUntilUnpackedThenNone) {
    testing::TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
    auto img = s.load("a:1");
    ASSERT_TRUE(img) << img.error().str();
    ASSERT_EQ(img->config.diff_ids.size(), 2u);
    EXPECT_EQ(missing_layers(s, *img), (std::vector<size_t>{0, 1}));  // imported, not unpacked
    ASSERT_TRUE(ensure_layer(s, img->manifest.layers[0], img->config.diff_ids[0]));
    EXPECT_EQ(missing_layers(s, *img), (std::vector<size_t>{1}));
    ASSERT_TRUE(ensure_layers(s, *img));
    EXPECT_TRUE(missing_layers(s, *img).empty());
}

TEST(OverlayStore, MountRefusesWithTheFirstMissingLayerAndRecordsTheContainer) {
    testing::TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "a");
    ASSERT_TRUE(import_archive(s, t / "a", {.name = "a:1"}));
    auto img = *s.load("a:1");
    auto r = mount_image_root(s, img, "svc", t / "root", false);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("2 of 2 layers are not unpacked"), std::string::npos)
        << r.error().str();
    EXPECT_NE(r.error().str().find(img.config.diff_ids[0].str()), std::string::npos);
    EXPECT_NE(r.error().str().find("gantry-image ensure"), std::string::npos);
    // The record is written first, so a GC meanwhile keeps the layers.
    EXPECT_EQ(::access((t / "store/containers/svc/container.json").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace gantry::image
