#include "image/digest.h"

#include <unistd.h>

#include <cerrno>

namespace gantry::image {

Result<Digest> Digest::parse(std::string_view text) {
    constexpr std::string_view kPrefix = "sha256:";
    if (!text.starts_with(kPrefix)) {
        auto colon = text.find(':');
        if (colon != std::string_view::npos) {
            return fail(Error::msg("digest '{}': algorithm '{}' is not supported (only sha256)",
                                   text, text.substr(0, colon)));
        }
        return fail(Error::msg("digest '{}': expected sha256:<64 hex digits>", text));
    }
    std::string_view hex = text.substr(kPrefix.size());
    if (hex.size() != 64) {
        return fail(Error::msg("digest '{}': expected 64 hex digits, got {}", text, hex.size()));
    }
    for (char c : hex) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return fail(Error::msg("digest '{}': '{}' is not a lowercase hex digit", text, c));
        }
    }
    return Digest(std::string(hex));
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
}

void Sha256::update(const void* data, size_t len) {
    EVP_DigestUpdate(ctx_.get(), data, len);
    bytes_ += len;
}

Digest Sha256::finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(len * 2);
    for (unsigned i = 0; i < len; ++i) {
        hex.push_back(kHex[md[i] >> 4]);
        hex.push_back(kHex[md[i] & 15]);
    }
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
    bytes_ = 0;
    return Digest::from_hex(std::move(hex));
}

Digest sha256_of(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

Result<HashedSize> sha256_fd(int fd) {
    Sha256 h;
    std::string buf(1 << 17, '\0');
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(Error::sys("read fd {}", fd));
        }
        if (n == 0) {
            break;
        }
        h.update(buf.data(), static_cast<size_t>(n));
    }
    uint64_t size = h.bytes();
    return HashedSize{h.finish(), size};
}

}  // namespace gantry::image
