#include <gtest/gtest.h>

#include "image/rootfs.h"

namespace gantry::image {
namespace {

Digest d(char c) {
    return Digest::from_hex(std::string(64, c));
}

TEST(OverlayPlan, LowersTopmostFirstWithUpper) {
    auto p = plan_overlay("/s", {d('a'), d('b'), d('c')}, "web-1", "/run/c/web/root", false);
    ASSERT_TRUE(p) << p.error().str();
    EXPECT_EQ(p->lower, (std::vector<std::string>{"/s/layers/sha256/" + std::string(64, 'c'),
                                                  "/s/layers/sha256/" + std::string(64, 'b'),
                                                  "/s/layers/sha256/" + std::string(64, 'a')}));
    EXPECT_EQ(p->upper, "/s/containers/web-1/upper");
    EXPECT_EQ(p->work, "/s/containers/web-1/work");
    EXPECT_EQ(p->options(),
              "lowerdir=" + p->lower[0] + ":" + p->lower[1] + ":" + p->lower[2] +
                  ",upperdir=/s/containers/web-1/upper,workdir=/s/containers/web-1/work");
}

TEST(OverlayPlan, ReadOnlyHasNoUpperAndTwoLowers) {
    auto p = plan_overlay("/s", {d('a')}, "ro", "/mnt", true);
    ASSERT_TRUE(p) << p.error().str();
    EXPECT_TRUE(p->upper.empty());
    ASSERT_EQ(p->lower.size(), 2u);
    EXPECT_EQ(p->lower[1], "/s/layers/empty");
    EXPECT_EQ(p->options().find("upperdir"), std::string::npos);
}

TEST(OverlayPlan, DuplicateLayersAppearOnce) {
    auto p = plan_overlay("/s", {d('a'), d('b'), d('a')}, "x", "/mnt", false);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->lower.size(), 2u);
    EXPECT_EQ(p->lower[0], "/s/layers/sha256/" + std::string(64, 'a'));
}

TEST(OverlayPlan, RejectsBadInput) {
    EXPECT_FALSE(plan_overlay("/s", {}, "x", "/mnt", false));
    EXPECT_FALSE(plan_overlay("/s", {d('a')}, "../x", "/mnt", false));
    EXPECT_FALSE(plan_overlay("/s", {d('a')}, "a/b", "/mnt", false));
    EXPECT_FALSE(plan_overlay("/s", {d('a')}, ".hidden", "/mnt", false));
    EXPECT_FALSE(plan_overlay("/s", {d('a')}, "x", "relative", false));
    EXPECT_FALSE(plan_overlay("/s:x", {d('a')}, "x", "/mnt", false));
    EXPECT_FALSE(plan_overlay("rel", {d('a')}, "x", "/mnt", false));
}

TEST(OverlayPlan, RefusesOptionsOverAPage) {
    std::vector<Digest> many;
    for (int i = 0; i < 60; ++i) {
        many.push_back(sha256_of(std::to_string(i)));
    }
    auto p = plan_overlay("/var/lib/gantry/images", many, "x", "/mnt", false);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().str().find("mount(2) limit"), std::string::npos) << p.error().str();
    many.resize(30);
    EXPECT_TRUE(plan_overlay("/var/lib/gantry/images", many, "x", "/mnt", false));
}

}  // namespace
}  // namespace gantry::image
