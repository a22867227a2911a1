// Binary encoding for the WAL and snapshots: LEB128 varints, length-prefixed bytes, and
// CRC-32C. Decoding never trusts a length: every read is bounds-checked, because recovery
// reads files that a crash may have cut short.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gantry::kv {

// CRC-32C (Castagnoli), continuing from `crc` so records chain: crc(n) = crc32c(crc(n-1),
// payload(n)). A chained CRC catches a record that is valid on its own but out of place.
uint32_t crc32c(uint32_t crc, std::string_view data);

class Encoder {
  public:
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    // Zig-zag, so small negative numbers stay short.
    void i64(int64_t v) {
        varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
    }
    void bytes(std::string_view s) {
        varint(s.size());
        out_.append(s);
    }
    std::string& str() { return out_; }

  private:
    std::string out_;
};

class Decoder {
  public:
    explicit Decoder(std::string_view in) : in_(in) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ == in_.size(); }

    uint8_t u8() {
        if (pos_ >= in_.size()) {
            ok_ = false;
            return 0;
        }
        return static_cast<uint8_t>(in_[pos_++]);
    }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= in_.size()) {
                ok_ = false;
                return 0;
            }
            auto b = static_cast<uint8_t>(in_[pos_++]);
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        ok_ = false;
        return 0;
    }
    int64_t i64() {
        uint64_t z = varint();
        return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    }
    std::string bytes() {
        uint64_t n = varint();
        if (!ok_ || n > in_.size() - pos_) {
            ok_ = false;
            return {};
        }
        std::string s(in_.substr(pos_, n));
        pos_ += n;
        return s;
    }

  private:
    std::string_view in_;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace gantry::kv
