// Decoders for content that arrives encoded: write_files `encoding`, `gantry.config=data:`.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "cloud-config/model.h"

namespace gantry::config {

// RFC 4648 base64, standard alphabet; whitespace (line breaks in YAML block scalars) is
// skipped, padding is optional, anything else is an error naming the offset.
Result<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// gzip (RFC 1952) through zlib. Refuses output past `limit` bytes, so a tiny config cannot
// inflate into gigabytes of RAM in PID 1.
Result<std::string> gunzip(std::string_view data, size_t limit = 64 << 20);
std::string gzip(std::string_view data);

// Decodes write_files content by its encoding. Empty content is an empty file in every
// encoding (the same as leaving `content` out).
Result<std::string> decode_content(std::string_view content, Encoding encoding);

}  // namespace gantry::config
