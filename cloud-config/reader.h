// Reader: the one place that turns yaml-cpp nodes into checked values.
//
// Internal to cloud-config (the parse_*.cc files). Every getter reports a problem as a
// Diagnostic at the node's line:column and goes on, so one pass finds every problem in a
// file. yaml-cpp keeps duplicate keys silently (the first one wins on lookup), so mappings
// are walked pair by pair here and a repeated key is an error.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloud-config/diagnostics.h"

namespace gantry::config::detail {

// "services" + "web" -> "services.web"; keys holding a dot are quoted: sysctls["net.x"].
std::string child(const std::string& path, std::string_view key);
// "users" + 2 -> "users[2]".
std::string item(const std::string& path, size_t index);

struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
};

// The checked pairs of a mapping, by key.
class Fields {
  public:
    explicit Fields(YAML::Node node) : node_(std::move(node)) {}
    // The value of `key`, or nullptr when the key is absent.
    const YAML::Node* get(std::string_view key) const;
    bool has(std::string_view key) const { return get(key) != nullptr; }
    // The key's own node (for its position), or nullptr when absent.
    const YAML::Node* key_node(std::string_view key) const;
    const YAML::Node& node() const { return node_; }
    void add(Entry e);

  private:
    YAML::Node node_;
    std::map<std::string, Entry, std::less<>> by_key_;
};

template <typename E>
using Choices = std::vector<std::pair<std::string_view, E>>;

// A key that is not Gantry's but that people bring from elsewhere, with what to use instead.
struct ForeignKey {
    std::string_view key;
    std::string_view message;
};

class Reader {
  public:
    Reader(std::string file, Diagnostics& out) : file_(std::move(file)), out_(out) {}

    const std::string& file() const { return file_; }
    static Mark mark(const YAML::Node& n);
    // Where to report a problem with `n`: its mark, except for an empty value ("key:"),
    // whose mark yaml-cpp puts at the start of the next line; that one is reported at its key.
    Mark where(const YAML::Node& n) const;
    void error(const YAML::Node& at, const std::string& path, std::string message,
               std::string hint = "");
    void error_at(Mark at, const std::string& path, std::string message, std::string hint = "");

    // A mapping whose keys must be among `keys`: unknown keys (with a "did you mean"),
    // duplicates and non-scalar keys are reported. nullopt when `n` is not a mapping.
    std::optional<Fields> fields(const YAML::Node& n, const std::string& path,
                                 const std::vector<std::string>& keys,
                                 const std::vector<ForeignKey>& foreign = {});
    // A mapping with free keys (service names, environment): duplicates are reported.
    std::optional<std::vector<Entry>> entries(const YAML::Node& n, const std::string& path);
    // A sequence's items; nullopt (after an error) when `n` is not a sequence.
    std::optional<std::vector<YAML::Node>> items(const YAML::Node& n, const std::string& path);

    std::optional<std::string> string(const YAML::Node& n, const std::string& path);
    std::optional<bool> boolean(const YAML::Node& n, const std::string& path);
    std::optional<uint64_t> unsigned_int(const YAML::Node& n, const std::string& path,
                                         uint64_t max);
    std::optional<double> number(const YAML::Node& n, const std::string& path);
    std::optional<Duration> duration(const YAML::Node& n, const std::string& path);
    std::optional<uint64_t> size(const YAML::Node& n, const std::string& path);
    // A list of strings; with `allow_single`, a lone string is a list of one.
    std::optional<std::vector<std::string>> strings(const YAML::Node& n, const std::string& path,
                                                    bool allow_single = false);
    // A map of string to scalar, or with `allow_list` a list of "KEY=VALUE" (Compose's two
    // spellings of environment, labels, sysctls).
    std::optional<std::map<std::string, std::string>> string_map(const YAML::Node& n,
                                                                 const std::string& path,
                                                                 bool allow_list);

    template <typename E>
    std::optional<E> choice(const YAML::Node& n, const std::string& path, const Choices<E>& cs) {
        auto s = string(n, path);
        if (!s) {
            return std::nullopt;
        }
        std::vector<std::string> names;
        for (const auto& [name, value] : cs) {
            if (name == *s) {
                return value;
            }
            names.emplace_back(name);
        }
        bad_choice(n, path, *s, names);
        return std::nullopt;
    }

    // Field shortcuts: read `key` of `f` into `out` when present; leave `out` alone otherwise.
    void get(const Fields& f, std::string_view key, const std::string& path, std::string& out);
    void get(const Fields& f, std::string_view key, const std::string& path, bool& out);
    void get(const Fields& f, std::string_view key, const std::string& path, uint32_t& out);
    void get(const Fields& f, std::string_view key, const std::string& path,
             std::vector<std::string>& out, bool allow_single = false);
    void get_duration(const Fields& f, std::string_view key, const std::string& path,
                      Duration& out);
    void get_size(const Fields& f, std::string_view key, const std::string& path, uint64_t& out);
    template <typename E>
    void get_choice(const Fields& f, std::string_view key, const std::string& path, E& out,
                    const Choices<E>& cs) {
        if (const YAML::Node* v = f.get(key)) {
            if (auto c = choice(*v, child(path, key), cs)) {
                out = *c;
            }
        }
    }
    // Reports `key` missing from the mapping `f` (at the mapping's position).
    void require(const Fields& f, std::string_view key, const std::string& path,
                 std::string_view what);

  private:
    void bad_choice(const YAML::Node& n, const std::string& path, const std::string& value,
                    const std::vector<std::string>& names);
    bool scalar(const YAML::Node& n, const std::string& path, std::string_view expected);

    std::string file_;
    Diagnostics& out_;
    std::vector<std::pair<YAML::Node, Mark>> null_marks_;
};

// Node kind in words, for "expected a string, found a list".
std::string_view kind(const YAML::Node& n);

}  // namespace gantry::config::detail
