#include <gtest/gtest.h>

#include <string>

#include "image/digest.h"

namespace gantry::image {
namespace {

// FIPS 180-4's own examples (NIST's "Example Algorithm" pages for SHA-256).
TEST(Sha256Of, KnownVectors) {
    EXPECT_EQ(sha256_of("").hex(),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_of("abc").hex(),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex(),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// Every padding case (lengths around the 55/56/64-byte edges, and longer) against the
// OpenSSL-backed streaming hasher the import path uses.
TEST(Sha256Of, MatchesStreamingHasherAtEveryLength) {
    std::string data;
    for (int n = 0; n < 300; ++n) {
        Sha256 h;
        h.update(data);
        ASSERT_EQ(sha256_of(data), h.finish()) << "length " << n;
        data.push_back(static_cast<char>(n * 31 + 7));
    }
    std::string big(1 << 20, 'x');
    Sha256 h;
    h.update(big);
    EXPECT_EQ(sha256_of(big), h.finish());
}

}  // namespace
}  // namespace gantry::image
