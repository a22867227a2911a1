// A small HTTP/1.1 request parser for the gateway: keep-alive, Content-Length and chunked
// bodies, and streaming bodies (a watch's request body is a sequence of JSON messages
// that arrive over the life of the connection). It parses bytes, never touches sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gantry::kv::http {

struct Request {
    std::string method;
    std::string path;
    bool keep_alive = true;
    bool chunked = false;
    size_t content_length = 0;
};

enum class ParseStatus { kNeedMore, kDone, kError };

// ASCII case-insensitive equality, for header names and tokens (no locale: std::tolower is
// a call into the C library per character).
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}

// Parses the request line and headers at the front of `buf`. On kDone, `consumed` is the
// size of the head. On kError, `error` says why (sent back as a 400).
ParseStatus parse_head(std::string_view buf, Request& req, size_t& consumed, std::string& error);

// The value of header `name` (any case) in a message head (the start line, then header
// lines, without the final empty line), trimmed; nothing if absent. For responses, which
// the client reads; requests go through parse_head.
std::optional<std::string_view> header(std::string_view head, std::string_view name);

// Decodes as much of a chunked body as `buf` holds, appending data to `out`. Returns the
// bytes consumed; sets `finished` at the terminating chunk and `error` on bad framing.
size_t decode_chunked(std::string_view buf, std::string& out, bool& finished, bool& error);

// Splits complete top-level JSON values off the front of `buf` (whitespace between them
// is skipped). Returns the bytes consumed; each value goes to `f`.
template <typename F>
size_t split_json_stream(std::string_view buf, F&& f) {
    size_t start = 0, i = 0;
    int depth = 0;
    bool in_str = false, esc = false;
    for (; i < buf.size(); ++i) {
        char c = buf[i];
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (depth == 0 && (c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
            start = i + 1;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                f(buf.substr(start, i + 1 - start));
                start = i + 1;
            }
        } else if (depth == 0) {
            // Not JSON: hand over the rest so the caller reports it.
            f(buf.substr(start));
            return buf.size();
        }
    }
    return start;
}

const char* status_text(int status);

}  // namespace gantry::kv::http
