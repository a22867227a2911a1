#include "init/bridge_lines.h"

#include "supervisor/api_client.h"

namespace gantry::init {

void BridgeLines::forward(std::vector<Piece>& out, std::string_view bytes) {
    if (out.empty() || out.back().new_session) {
        out.push_back({});
    }
    out.back().bytes.append(bytes);
}

std::vector<BridgeLines::Piece> BridgeLines::feed(std::string_view data) {
    std::vector<Piece> out;
    while (!data.empty()) {
        size_t nl = data.find('\n');
        if (nl == std::string_view::npos) {
            if (long_line_) {
                forward(out, data);
            } else {
                partial_.append(data);
                if (partial_.size() > kMaxLine) {
                    forward(out, partial_);
                    partial_.clear();
                    long_line_ = true;
                }
            }
            break;
        }
        std::string_view rest = data.substr(0, nl + 1);
        data.remove_prefix(nl + 1);
        if (long_line_) {
            forward(out, rest);
            long_line_ = false;
            continue;
        }
        partial_.append(rest);
        std::string_view line(partial_.data(), partial_.size() - 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line == supervisor::kSessionStart) {
            out.push_back({.new_session = true});
        } else {
            forward(out, partial_);
        }
        partial_.clear();
    }
    return out;
}

}  // namespace gantry::init
