#include "image/digest.h"

#include <unistd.h>

#include <cerrno>

#include "base/sha256.h"

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

Digest sha256_of(std::string_view data) {
    return Digest::from_hex(sha256_hex(data));
}

}  // namespace gantry::image
