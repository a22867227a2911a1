#include "kv/codec.h"

#include <array>

namespace gantry::kv {

namespace {

// Slicing-by-1 table for the reflected Castagnoli polynomial. The WAL writes a few MB/s
// at most, so the simple table is fast enough and obviously correct.
constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        }
        t[i] = c;
    }
    return t;
}

constexpr auto kTable = make_table();

}  // namespace

uint32_t crc32c(uint32_t crc, std::string_view data) {
    crc = ~crc;
    for (char ch : data) {
        crc = kTable[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

}  // namespace gantry::kv
