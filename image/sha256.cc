// The streaming SHA-256 of digest.h over OpenSSL's EVP (SHA-NI/AVX2 code paths): the
// import, pull and unpack paths hash whole layers with it. Part of gantry_image (full), so
// PID 1, which links only gantry_image_store, carries no libcrypto (sha256_of.cc).
#include <unistd.h>

#include <cerrno>

#include "image/digest.h"

namespace gantry::image {

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
