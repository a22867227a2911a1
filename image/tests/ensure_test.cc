#include "image/ensure.h"

#include <gtest/gtest.h>

#include "image/tests/fake_registry.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

TEST(EnsureImage, StoreThenRegistryByPolicy) {
    TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "layout");
    testing::FakeRegistry reg(t / "layout", "app", {});
    std::string ref = reg.host() + "/app:v1";
    EXPECT_FALSE(ensure_image(s, ref, PullPolicy::kNever));
    auto pulled = ensure_image(s, ref, PullPolicy::kMissing);
    ASSERT_TRUE(pulled) << pulled.error().str();
    size_t n = reg.requests().size();
    ASSERT_TRUE(ensure_image(s, ref, PullPolicy::kMissing));
    EXPECT_EQ(reg.requests().size(), n) << "found in the store: no registry traffic";
    ASSERT_TRUE(ensure_image(s, ref, PullPolicy::kAlways));
    EXPECT_GT(reg.requests().size(), n);
}

TEST(EnsureImage, OciLayoutAndArchiveTransports) {
    TempDir t;
    Store s = *Store::open(t / "store");
    testing::build_layout(testing::scratch_spec("one"), t / "My_App");
    ASSERT_TRUE(build::write_dir_tar(t / "My_App", t / "app.tar"));
    auto a = ensure_image(s, "oci:" + (t / "My_App") + ":v1", PullPolicy::kNever);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(a->record.name, "localhost/my-app:v1");
    auto b = ensure_image(s, "oci-archive:" + (t / "app.tar"), PullPolicy::kNever);
    ASSERT_TRUE(b) << b.error().str();
    EXPECT_EQ(b->record.name, "localhost/app:v1");
    EXPECT_FALSE(ensure_image(s, "oci:" + (t / "My_App") + ":v9", PullPolicy::kNever));
}

}  // namespace
}  // namespace gantry::image
