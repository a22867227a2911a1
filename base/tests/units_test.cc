#include "base/units.h"

#include <gtest/gtest.h>

namespace gantry {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesGoSyntax) {
    EXPECT_EQ(*parse_duration("100ms"), 100ms);
    EXPECT_EQ(*parse_duration("1m30s"), 90s);
    EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(*parse_duration("2h"), 2h);
    EXPECT_EQ(*parse_duration("0"), 0s);
    EXPECT_EQ(*parse_duration("10us"), 10us);
    EXPECT_EQ(*parse_duration("7ns"), 7ns);
    EXPECT_EQ(*parse_duration("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
}

TEST(Duration, ExactErrors) {
    EXPECT_EQ(parse_duration("10").error().str(),
              "\"10\" has no unit: write it like 30s, 1m30s, 100ms or 2h");
    EXPECT_EQ(parse_duration("5x").error().str(),
              "\"5x\" has an unknown unit \"x\": use ns, us, ms, s, m or h");
    EXPECT_EQ(parse_duration("-1s").error().str(),
              "\"-1s\" is negative: a duration must be 0 or more");
    EXPECT_EQ(parse_duration("").error().str(),
              "empty duration: write it like 30s, 1m30s, 100ms or 2h");
    EXPECT_FALSE(parse_duration("s"));
    EXPECT_FALSE(parse_duration("1.s"));
    EXPECT_FALSE(parse_duration("1s "));
}

TEST(Duration, Overflow) {
    EXPECT_TRUE(parse_duration("2562047h"));
    EXPECT_EQ(parse_duration("2562048h").error().str(),
              "\"2562048h\" is too long: the largest duration is about 292 years");
    EXPECT_FALSE(parse_duration("99999999999999999999999s"));
    EXPECT_FALSE(parse_duration("2562047h2562047h"));
}

TEST(Duration, FormatsShortest) {
    EXPECT_EQ(format_duration(90s), "1m30s");
    EXPECT_EQ(format_duration(100ms), "100ms");
    EXPECT_EQ(format_duration(0s), "0s");
    EXPECT_EQ(format_duration(1500ms), "1.5s");
    EXPECT_EQ(format_duration(2h + 1s), "2h1s");
    EXPECT_EQ(format_duration(3us), "3us");
}

TEST(Size, ParsesDockerUnits) {
    EXPECT_EQ(*parse_size("64M"), 64ull << 20);
    EXPECT_EQ(*parse_size("1.5GiB"), 1536ull << 20);
    EXPECT_EQ(*parse_size("512k"), 512ull << 10);
    EXPECT_EQ(*parse_size("512kb"), 512ull << 10);
    EXPECT_EQ(*parse_size("100"), 100u);
    EXPECT_EQ(*parse_size("100b"), 100u);
    EXPECT_EQ(*parse_size("2T"), 2ull << 40);
    EXPECT_EQ(*parse_size("0.5k"), 512u);
}

TEST(Size, ExactErrors) {
    EXPECT_EQ(parse_size("64X").error().str(),
              "\"64X\" has an unknown unit \"X\": use b, k, m, g, t or p (powers of 1024)");
    EXPECT_EQ(parse_size("-1M").error().str(), "\"-1M\" is negative: a size must be 0 or more");
    EXPECT_EQ(parse_size("1.3b").error().str(), "\"1.3b\" is not a whole number of bytes");
    EXPECT_FALSE(parse_size("M"));
    EXPECT_FALSE(parse_size("1bib"));
    EXPECT_FALSE(parse_size(""));
}

TEST(Size, Overflow) {
    EXPECT_TRUE(parse_size("7E") ? false : true);  // 'E' is not a unit
    EXPECT_EQ(*parse_size("8191p"), 8191ull << 50);
    EXPECT_EQ(parse_size("8192p").error().str(),
              "\"8192p\" is too large: the largest size is 8EiB");
    EXPECT_FALSE(parse_size("18446744073709551616"));
    EXPECT_FALSE(parse_size("9223372036854775808"));
    EXPECT_EQ(*parse_size("9223372036854775807"), 9223372036854775807ull);
}

TEST(Size, Formats) {
    EXPECT_EQ(format_size(64ull << 20), "64MiB");
    EXPECT_EQ(format_size(1536ull << 20), "1.5GiB");
    EXPECT_EQ(format_size(123), "123B");
}

}  // namespace
}  // namespace gantry
