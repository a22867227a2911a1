// Content digests ("sha256:<64 hex>") and a streaming SHA-256 hasher (OpenSSL EVP).
//
// Only sha256 is accepted: it is what every registry and OCI layout in use writes, and a
// store that accepted weaker algorithms would let a collision stand in for a blob.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace gantry::image {

class Digest {
  public:
    Digest() = default;
    // Parses "sha256:<64 lowercase hex>"; anything else is an error naming the text.
    static Result<Digest> parse(std::string_view text);
    static Digest from_hex(std::string hex) { return Digest(std::move(hex)); }

    const std::string& hex() const { return hex_; }
    std::string str() const { return "sha256:" + hex_; }
    bool empty() const { return hex_.empty(); }
    auto operator<=>(const Digest&) const = default;

  private:
    explicit Digest(std::string hex) : hex_(std::move(hex)) {}
    std::string hex_;
};

// Incremental SHA-256. Not copyable: the EVP context is an owned handle.
class Sha256 {
  public:
    Sha256();
    void update(const void* data, size_t len);
    void update(std::string_view data) { update(data.data(), data.size()); }
    // Finishes and returns the digest; the hasher is reset and can be reused.
    Digest finish();
    uint64_t bytes() const { return bytes_; }

  private:
    struct Free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> ctx_;
    uint64_t bytes_ = 0;
};

Digest sha256_of(std::string_view data);
// Hashes a whole file (from its current offset to EOF) and returns digest + size.
struct HashedSize {
    Digest digest;
    uint64_t size = 0;
};
Result<HashedSize> sha256_fd(int fd);

}  // namespace gantry::image
