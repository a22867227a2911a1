#include "kv/http.h"

#include <algorithm>
#include <charconv>

namespace gantry::kv::http {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

constexpr size_t kMaxHead = 64 * 1024;

}  // namespace

ParseStatus parse_head(std::string_view buf, Request& req, size_t& consumed, std::string& error) {
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (buf.size() > kMaxHead) {
            error = "request head too large";
            return ParseStatus::kError;
        }
        return ParseStatus::kNeedMore;
    }
    consumed = end + 4;
    std::string_view head = buf.substr(0, end);
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) {
        error = "malformed request line";
        return ParseStatus::kError;
    }
    req = Request{};
    req.method = std::string(line.substr(0, sp1));
    req.path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string_view version = line.substr(sp2 + 1);
    if (!version.starts_with("HTTP/1.")) {
        error = "unsupported HTTP version";
        return ParseStatus::kError;
    }
    req.keep_alive = version != "HTTP/1.0";
    if (size_t q = req.path.find('?'); q != std::string::npos) {
        req.path.resize(q);
    }
    while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        std::string_view h = head.substr(0, eol);
        size_t colon = h.find(':');
        if (colon == std::string_view::npos) {
            error = "malformed header";
            return ParseStatus::kError;
        }
        std::string_view name = trim(h.substr(0, colon));
        std::string_view value = trim(h.substr(colon + 1));
        if (iequals(name, "content-length")) {
            auto [p, ec] =
                std::from_chars(value.data(), value.data() + value.size(), req.content_length);
            if (ec != std::errc() || p != value.data() + value.size()) {
                error = "bad Content-Length";
                return ParseStatus::kError;
            }
        } else if (iequals(name, "transfer-encoding")) {
            req.chunked = iequals(value, "chunked");
            if (!req.chunked) {
                error = "unsupported Transfer-Encoding";
                return ParseStatus::kError;
            }
        } else if (iequals(name, "connection")) {
            if (iequals(value, "close")) {
                req.keep_alive = false;
            } else if (iequals(value, "keep-alive")) {
                req.keep_alive = true;
            }
        }
    }
    return ParseStatus::kDone;
}

std::optional<std::string_view> header(std::string_view head, std::string_view name) {
    size_t eol = head.find("\r\n");
    while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) {
            return trim(line.substr(colon + 1));
        }
    }
    return std::nullopt;
}

size_t decode_chunked(std::string_view buf, std::string& out, bool& finished, bool& error) {
    size_t pos = 0;
    while (!finished) {
        size_t eol = buf.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            error = buf.size() - pos > 1024;
            return pos;
        }
        size_t n = 0;
        std::string_view hex = buf.substr(pos, eol - pos);
        hex = hex.substr(0, hex.find(';'));
        auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), n, 16);
        if (ec != std::errc() || hex.empty()) {
            error = true;
            return pos;
        }
        if (n == 0) {
            // The last chunk, then optional trailers (etcd sends Grpc-Trailer-*), then an
            // empty line.
            size_t end =
                buf.substr(eol).starts_with("\r\n\r\n") ? eol + 4 : buf.find("\r\n\r\n", eol + 2);
            if (end == std::string_view::npos) {
                return pos;
            }
            if (end != eol + 4) {
                end += 4;
            }
            finished = true;
            return end;
        }
        if (buf.size() < eol + 2 + n + 2) {
            return pos;
        }
        out.append(buf.substr(eol + 2, n));
        pos = eol + 2 + n + 2;
    }
    return pos;
}

const char* status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Request Entity Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Unknown";
    }
}

}  // namespace gantry::kv::http
