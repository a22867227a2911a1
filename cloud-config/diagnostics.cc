#include "cloud-config/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace gantry::config {

std::string Diagnostic::str() const {
    std::string out = file;
    if (line > 0) {
        out += fmt::format(":{}:{}", line, column);
    }
    out += ": ";
    if (!path.empty()) {
        out += path;
        out += ": ";
    }
    out += message;
    if (!hint.empty()) {
        out += fmt::format(" (did you mean \"{}\"?)", hint);
    }
    return out;
}

void sort_diagnostics(Diagnostics& d) {
    std::stable_sort(d.begin(), d.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.line, a.column, a.path, a.message) <
               std::tie(b.line, b.column, b.path, b.message);
    });
    d.erase(
        std::unique(d.begin(), d.end(),
                    [](const Diagnostic& a, const Diagnostic& b) { return a.str() == b.str(); }),
        d.end());
}

std::string format_diagnostics(const Diagnostics& d) {
    std::string out;
    for (const auto& x : d) {
        out += x.str();
        out += '\n';
    }
    return out;
}

}  // namespace gantry::config
