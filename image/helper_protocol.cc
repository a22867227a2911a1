#include "image/helper_protocol.h"

#include <string.h>

namespace gantry::image {

namespace {

constexpr size_t kMaxLine = 4096;  // a runaway line is cut, never buffered without end

std::string one_line(std::string_view text) {
    std::string s(text.substr(0, kMaxLine));
    for (char& c : s) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return s;
}

}  // namespace

std::string format_progress(std::string_view text) {
    return "progress " + one_line(text) + "\n";
}

std::string format_done(const Digest& digest, std::string_view name) {
    return "done " + digest.str() + " " + one_line(name) + "\n";
}

std::string format_error(std::string_view text) {
    return "error " + one_line(text) + "\n";
}

HelperMessage parse_helper_line(std::string_view line) {
    HelperMessage m;
    if (line.starts_with("progress ")) {
        m.text = std::string(line.substr(9));
        return m;
    }
    if (line.starts_with("error ")) {
        m.kind = HelperMessage::Kind::kError;
        m.text = std::string(line.substr(6));
        return m;
    }
    if (line.starts_with("done ")) {
        std::string_view rest = line.substr(5);
        auto sp = rest.find(' ');
        auto d = Digest::parse(rest.substr(0, sp));
        if (d && sp != std::string_view::npos && sp + 1 < rest.size()) {
            m.kind = HelperMessage::Kind::kDone;
            m.digest = *d;
            m.name = std::string(rest.substr(sp + 1));
            return m;
        }
    }
    m.text = std::string(line);  // not ours: keep it as progress
    return m;
}

std::vector<HelperMessage> HelperReport::feed(std::string_view bytes) {
    std::vector<HelperMessage> out;
    partial_.append(bytes);
    size_t start = 0;
    for (;;) {
        size_t nl = partial_.find('\n', start);
        if (nl == std::string::npos) {
            break;
        }
        std::string_view line(partial_.data() + start, nl - start);
        out.push_back(parse_helper_line(line.substr(0, kMaxLine)));
        start = nl + 1;
    }
    partial_.erase(0, start);
    if (partial_.size() > kMaxLine) {
        out.push_back(parse_helper_line(partial_.substr(0, kMaxLine)));
        partial_.clear();
    }
    for (const auto& m : out) {
        switch (m.kind) {
            case HelperMessage::Kind::kProgress:
                if (!m.text.empty()) {
                    last_progress_ = m.text;
                }
                break;
            case HelperMessage::Kind::kDone:
                done_ = m;
                break;
            case HelperMessage::Kind::kError:
                error_ = m.text;
                break;
        }
    }
    return out;
}

Result<HelperMessage> HelperReport::finish(int exit_code) {
    if (!partial_.empty()) {
        feed("\n");
    }
    if (exit_code == 0 && done_ && !error_) {
        return *done_;
    }
    if (error_) {
        return fail(Error::msg("{}", *error_));
    }
    std::string how = exit_code >= 0 ? fmt::format("exited with status {}", exit_code)
                                     : fmt::format("killed by signal {} ({})", -exit_code,
                                                   ::strsignal(-exit_code));
    if (exit_code == 0) {
        how = "exited without reporting the image";
    }
    if (!last_progress_.empty()) {
        return fail(Error::msg("the image helper {} (last: {})", how, last_progress_));
    }
    return fail(Error::msg("the image helper {}", how));
}

}  // namespace gantry::image
