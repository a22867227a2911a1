#include "cloud-config/reader.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "base/strings.h"
#include "base/units.h"

namespace gantry::config::detail {

std::string child(const std::string& path, std::string_view key) {
    if (key.find('.') != std::string_view::npos || key.empty()) {
        return fmt::format("{}[\"{}\"]", path, key);
    }
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string item(const std::string& path, size_t index) {
    return fmt::format("{}[{}]", path, index);
}

std::string_view kind(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Null:
            return "nothing";
        case YAML::NodeType::Scalar:
            return "a scalar";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Undefined:
            return "nothing";
    }
    return "nothing";
}

const YAML::Node* Fields::get(std::string_view key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second.value;
}

const YAML::Node* Fields::key_node(std::string_view key) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : &it->second.key_node;
}

void Fields::add(Entry e) {
    std::string key = e.key;
    by_key_.emplace(std::move(key), std::move(e));
}

Mark Reader::mark(const YAML::Node& n) {
    YAML::Mark m = n.Mark();
    if (m.is_null()) {
        return {};
    }
    // yaml-cpp counts from 0; editors and compilers count from 1.
    return {m.line + 1, m.column + 1};
}

Mark Reader::where(const YAML::Node& n) const {
    if (n.IsNull()) {
        for (const auto& [node, m] : null_marks_) {
            if (node.is(n)) {
                return m;
            }
        }
    }
    return mark(n);
}

void Reader::error(const YAML::Node& at, const std::string& path, std::string message,
                   std::string hint) {
    error_at(where(at), path, std::move(message), std::move(hint));
}

void Reader::error_at(Mark at, const std::string& path, std::string message, std::string hint) {
    out_.push_back(
        Diagnostic{file_, at.line, at.column, path, std::move(message), std::move(hint)});
}

std::optional<std::vector<Entry>> Reader::entries(const YAML::Node& n, const std::string& path) {
    if (!n.IsMap()) {
        error(n, path, fmt::format("expected a mapping, found {}", kind(n)));
        return std::nullopt;
    }
    std::vector<Entry> out;
    std::map<std::string, Mark, std::less<>> seen;
    // Copies, not references: yaml-cpp's iterator returns its pair through a temporary
    // proxy, so `const Node& k = it->first` dangles (ASan: stack-use-after-scope).
    for (auto pair : n) {
        YAML::Node k = pair.first;
        YAML::Node v = pair.second;
        if (!k.IsScalar()) {
            error(k, path, fmt::format("a key must be a plain name, found {}", kind(k)));
            continue;
        }
        const std::string& key = k.Scalar();
        if (auto s = seen.find(key); s != seen.end()) {
            error(k, child(path, key),
                  fmt::format("duplicate key (first set at line {}, column {})", s->second.line,
                              s->second.column));
            continue;
        }
        seen.emplace(key, mark(k));
        if (v.IsNull()) {
            null_marks_.emplace_back(v, mark(k));
        }
        out.push_back(Entry{key, k, v});
    }
    return out;
}

std::optional<Fields> Reader::fields(const YAML::Node& n, const std::string& path,
                                     const std::vector<std::string>& keys,
                                     const std::vector<ForeignKey>& foreign) {
    auto es = entries(n, path);
    if (!es) {
        return std::nullopt;
    }
    Fields f(n);
    for (auto& e : *es) {
        bool known = false;
        for (const auto& k : keys) {
            if (k == e.key) {
                known = true;
                break;
            }
        }
        if (known) {
            f.add(std::move(e));
            continue;
        }
        bool handled = false;
        for (const auto& fk : foreign) {
            if (fk.key == e.key) {
                error(e.key_node, child(path, e.key), std::string(fk.message));
                handled = true;
                break;
            }
        }
        if (handled) {
            continue;
        }
        std::string hint = closest_match(e.key, keys);
        if (hint.empty()) {
            error(e.key_node, child(path, e.key),
                  fmt::format("unknown key; {} takes: {}", path.empty() ? "the file" : path,
                              join(keys, ", ")));
        } else {
            error(e.key_node, child(path, e.key), "unknown key", hint);
        }
    }
    return f;
}

std::optional<std::vector<YAML::Node>> Reader::items(const YAML::Node& n, const std::string& path) {
    if (!n.IsSequence()) {
        error(n, path, fmt::format("expected a list, found {}", kind(n)));
        return std::nullopt;
    }
    std::vector<YAML::Node> out;
    for (const auto& x : n) {
        out.push_back(x);
    }
    return out;
}

bool Reader::scalar(const YAML::Node& n, const std::string& path, std::string_view expected) {
    if (n.IsScalar()) {
        return true;
    }
    if (n.IsNull()) {
        error(n, path, fmt::format("has no value; expected {}", expected));
    } else {
        error(n, path, fmt::format("expected {}, found {}", expected, kind(n)));
    }
    return false;
}

std::optional<std::string> Reader::string(const YAML::Node& n, const std::string& path) {
    if (!scalar(n, path, "a string")) {
        return std::nullopt;
    }
    return n.Scalar();
}

std::optional<bool> Reader::boolean(const YAML::Node& n, const std::string& path) {
    if (!scalar(n, path, "true or false")) {
        return std::nullopt;
    }
    // YAML 1.2 booleans only: "yes", "on" and "y" are strings there (and in Compose), and
    // "NO" meaning false is the Norway problem.
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") {
        return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return false;
    }
    error(n, path, fmt::format("\"{}\" is not a boolean; write true or false", s));
    return std::nullopt;
}

std::optional<uint64_t> Reader::unsigned_int(const YAML::Node& n, const std::string& path,
                                             uint64_t max) {
    if (!scalar(n, path, "a whole number")) {
        return std::nullopt;
    }
    const std::string& s = n.Scalar();
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec == std::errc::result_out_of_range || (ec == std::errc() && v > max)) {
        if (ec == std::errc() || ec == std::errc::result_out_of_range) {
            error(n, path, fmt::format("{} is out of range: at most {}", s, max));
            return std::nullopt;
        }
    }
    if (ec != std::errc() || end != s.data() + s.size()) {
        error(n, path, fmt::format("\"{}\" is not a whole number", s));
        return std::nullopt;
    }
    return v;
}

std::optional<double> Reader::number(const YAML::Node& n, const std::string& path) {
    if (!scalar(n, path, "a number")) {
        return std::nullopt;
    }
    const std::string& s = n.Scalar();
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0) {
        error(n, path, fmt::format("\"{}\" is not a number of 0 or more", s));
        return std::nullopt;
    }
    return v;
}

std::optional<Duration> Reader::duration(const YAML::Node& n, const std::string& path) {
    if (!scalar(n, path, "a duration such as 30s")) {
        return std::nullopt;
    }
    auto d = parse_duration(n.Scalar());
    if (!d) {
        error(n, path, d.error().str());
        return std::nullopt;
    }
    return *d;
}

std::optional<uint64_t> Reader::size(const YAML::Node& n, const std::string& path) {
    if (!scalar(n, path, "a size such as 512M")) {
        return std::nullopt;
    }
    auto s = parse_size(n.Scalar());
    if (!s) {
        error(n, path, s.error().str());
        return std::nullopt;
    }
    return *s;
}

std::optional<std::vector<std::string>> Reader::strings(const YAML::Node& n,
                                                        const std::string& path,
                                                        bool allow_single) {
    if (allow_single && n.IsScalar()) {
        return std::vector<std::string>{n.Scalar()};
    }
    if (!n.IsSequence()) {
        error(n, path,
              fmt::format("expected a list of strings{}, found {}",
                          allow_single ? " or one string" : "", kind(n)));
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    size_t i = 0;
    for (const auto& x : n) {
        if (auto s = string(x, item(path, i))) {
            out.push_back(*s);
        } else {
            ok = false;
        }
        ++i;
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::optional<std::map<std::string, std::string>> Reader::string_map(const YAML::Node& n,
                                                                     const std::string& path,
                                                                     bool allow_list) {
    std::map<std::string, std::string> out;
    if (allow_list && n.IsSequence()) {
        size_t i = 0;
        std::map<std::string, Mark> seen;
        for (const auto& x : n) {
            std::string p = item(path, i++);
            auto s = string(x, p);
            if (!s) {
                continue;
            }
            auto eq = s->find('=');
            if (eq == 0 || eq == std::string::npos) {
                error(x, p,
                      fmt::format("\"{}\" is not KEY=VALUE (Gantry has no shell environment to "
                                  "take a bare name from)",
                                  *s));
                continue;
            }
            std::string key = s->substr(0, eq);
            if (auto it = seen.find(key); it != seen.end()) {
                error(x, p,
                      fmt::format("duplicate key \"{}\" (first set at line {}, column {})", key,
                                  it->second.line, it->second.column));
                continue;
            }
            seen.emplace(key, mark(x));
            out.emplace(key, s->substr(eq + 1));
        }
        return out;
    }
    if (!n.IsMap()) {
        error(n, path,
              fmt::format("expected a mapping{}, found {}",
                          allow_list ? " or a list of KEY=VALUE" : "", kind(n)));
        return std::nullopt;
    }
    auto es = entries(n, path);
    if (!es) {
        return std::nullopt;
    }
    for (const auto& e : *es) {
        if (e.value.IsNull()) {
            error(e.value, child(path, e.key),
                  "has no value; write an empty string \"\" for an empty value");
            continue;
        }
        if (auto s = string(e.value, child(path, e.key))) {
            out.emplace(e.key, *s);
        }
    }
    return out;
}

void Reader::get(const Fields& f, std::string_view key, const std::string& path, std::string& out) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto s = string(*v, child(path, key))) {
            out = *s;
        }
    }
}

void Reader::get(const Fields& f, std::string_view key, const std::string& path, bool& out) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto b = boolean(*v, child(path, key))) {
            out = *b;
        }
    }
}

void Reader::get(const Fields& f, std::string_view key, const std::string& path, uint32_t& out) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto u = unsigned_int(*v, child(path, key), std::numeric_limits<uint32_t>::max())) {
            out = static_cast<uint32_t>(*u);
        }
    }
}

void Reader::get(const Fields& f, std::string_view key, const std::string& path,
                 std::vector<std::string>& out, bool allow_single) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto l = strings(*v, child(path, key), allow_single)) {
            out = std::move(*l);
        }
    }
}

void Reader::get_duration(const Fields& f, std::string_view key, const std::string& path,
                          Duration& out) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto d = duration(*v, child(path, key))) {
            out = *d;
        }
    }
}

void Reader::get_size(const Fields& f, std::string_view key, const std::string& path,
                      uint64_t& out) {
    if (const YAML::Node* v = f.get(key)) {
        if (auto s = size(*v, child(path, key))) {
            out = *s;
        }
    }
}

void Reader::require(const Fields& f, std::string_view key, const std::string& path,
                     std::string_view what) {
    if (!f.has(key)) {
        error(f.node(), path, fmt::format("missing \"{}\" ({})", key, what));
    }
}

void Reader::bad_choice(const YAML::Node& n, const std::string& path, const std::string& value,
                        const std::vector<std::string>& names) {
    error(n, path, fmt::format("\"{}\" is not one of {}", value, join(names, ", ")),
          closest_match(value, names));
}

}  // namespace gantry::config::detail
