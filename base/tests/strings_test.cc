#include "base/strings.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

TEST(Strings, SplitKeepsEmptyFields) {
    EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_EQ(split("", ','), (std::vector<std::string>{""}));
}

TEST(Strings, TrimAndJoin) {
    EXPECT_EQ(trim("  x y\n"), "x y");
    EXPECT_EQ(trim("   "), "");
    EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
}

TEST(Strings, ClosestMatchFindsTypos) {
    std::vector<std::string> keys = {"always", "on-failure", "no", "unless-stopped"};
    EXPECT_EQ(closest_match("allways", keys), "always");
    EXPECT_EQ(closest_match("unles-stoped", keys), "unless-stopped");
    EXPECT_EQ(closest_match("banana", keys), "");
    EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace gantry
