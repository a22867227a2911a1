#include "cloud-config/codec.h"

#include <zlib.h>

#include <array>

namespace gantry::config {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

}  // namespace

Result<std::string> base64_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        if (c == '=') {
            ++pad;
            continue;
        }
        int v = value_of(c);
        if (v < 0 || pad > 0) {
            return fail(Error::msg("invalid base64 at offset {}: {}", i,
                                   pad > 0 ? "data after '=' padding"
                                           : fmt::format("unexpected character 0x{:02x}",
                                                         static_cast<unsigned char>(c))));
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Leftover bits must be padding zeros of a whole 2- or 3-byte tail; 6 bits is a cut char.
    if (bits >= 6 || pad > 2) {
        return fail(Error::msg("invalid base64: the data is truncated"));
    }
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                     (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (size_t rest = bytes.size() - i; rest > 0) {
        uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
        if (rest == 2) {
            v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
        }
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

Result<std::string> gunzip(std::string_view data, size_t limit) {
    z_stream zs{};
    // 16 + MAX_WBITS: expect a gzip header and trailer, not a raw zlib stream.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return fail(Error::msg("gzip: cannot initialise zlib"));
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    std::string out;
    std::array<char, 16384> buf;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(buf.data());
        zs.avail_out = buf.size();
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            std::string why = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated data" : "bad data");
            inflateEnd(&zs);
            return fail(Error::msg("gzip: {}", why));
        }
        out.append(buf.data(), buf.size() - zs.avail_out);
        if (out.size() > limit) {
            inflateEnd(&zs);
            return fail(Error::msg("gzip: content inflates past {} bytes", limit));
        }
    }
    bool trailing = zs.avail_in != 0;
    inflateEnd(&zs);
    if (trailing) {
        return fail(Error::msg("gzip: data after the end of the compressed stream"));
    }
    return out;
}

std::string gzip(std::string_view data) {
    z_stream zs{};
    deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    std::string out(deflateBound(&zs, data.size()), '\0');
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

Result<std::string> decode_content(std::string_view content, Encoding encoding) {
    if (content.empty()) {
        return std::string();  // no content is an empty file in every encoding, as when omitted
    }
    switch (encoding) {
        case Encoding::plain:
            return std::string(content);
        case Encoding::base64:
            return base64_decode(content);
        case Encoding::gzip:
            return gunzip(content);
        case Encoding::gzip_base64: {
            std::string raw = GANTRY_TRY(base64_decode(content));
            return gunzip(raw);
        }
    }
    return fail(Error::msg("unknown encoding"));
}

}  // namespace gantry::config
