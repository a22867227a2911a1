#include "cloud-config/codec.h"

#include <gtest/gtest.h>

namespace gantry::config {
namespace {

TEST(Base64, RoundTripsEveryTailLength) {
    for (std::string s : {"", "a", "ab", "abc", "abcd", "\x00\xff\x10 binary"}) {
        auto d = base64_decode(base64_encode(s));
        ASSERT_TRUE(d) << s;
        EXPECT_EQ(*d, s);
    }
    EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
}

TEST(Base64, SkipsWhitespaceAndRejectsGarbage) {
    EXPECT_EQ(*base64_decode("aGVs\n bG8="), "hello");
    EXPECT_EQ(*base64_decode("aGVsbG8"), "hello");  // padding is optional
    EXPECT_EQ(base64_decode("aGV*").error().str(),
              "invalid base64 at offset 3: unexpected character 0x2a");
    EXPECT_FALSE(base64_decode("aGVsbG8=x"));
    EXPECT_FALSE(base64_decode("a"));
}

TEST(Gzip, RoundTripsAndRejectsBadData) {
    std::string text(10000, 'x');
    auto back = gunzip(gzip(text));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, text);
    EXPECT_FALSE(gunzip("not gzip"));
    std::string z = gzip("hello");
    EXPECT_FALSE(gunzip(z.substr(0, z.size() - 4)));  // truncated
    EXPECT_FALSE(gunzip(z + "junk"));
}

TEST(Gzip, RefusesToInflatePastTheLimit) {
    std::string bomb = gzip(std::string(1 << 20, '\0'));
    auto r = gunzip(bomb, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().str(), "gzip: content inflates past 1000 bytes");
}

TEST(DecodeContent, EmptyIsAnEmptyFileInEveryEncoding) {
    // As when `content` is left out; `config show` prints it as "" and must read back.
    for (auto e : {Encoding::plain, Encoding::base64, Encoding::gzip, Encoding::gzip_base64}) {
        auto d = decode_content("", e);
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, "");
    }
}

TEST(DecodeContent, AllEncodings) {
    EXPECT_EQ(*decode_content("hi", Encoding::plain), "hi");
    EXPECT_EQ(*decode_content("aGk=", Encoding::base64), "hi");
    EXPECT_EQ(*decode_content(gzip("hi"), Encoding::gzip), "hi");
    EXPECT_EQ(*decode_content(base64_encode(gzip("hi")), Encoding::gzip_base64), "hi");
}

}  // namespace
}  // namespace gantry::config
