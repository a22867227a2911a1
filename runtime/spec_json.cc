#include "runtime/spec_json.h"

#include "base/strings.h"

namespace gantry::runtime {

using json = nlohmann::json;

std::string json_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) {
        return std::string(key);
    }
    return fmt::format("{}.{}", parent, key);
}

Error type_error(const std::string& path, std::string_view expected, const json& got) {
    std::string shown = got.dump();
    if (shown.size() > 40) {
        shown = shown.substr(0, 37) + "...";
    }
    return Error::msg("{}: expected {}, got {}", path, expected, shown);
}

Error unknown_value(const std::string& path, const std::string& value,
                    const std::vector<std::string>& allowed) {
    std::string hint = closest_match(value, allowed);
    if (!hint.empty()) {
        return Error::msg("{}: unknown value \"{}\" (did you mean \"{}\"?)", path, value, hint);
    }
    return Error::msg("{}: unknown value \"{}\"; one of {}", path, value, join(allowed, ", "));
}

Status check_object(const json& j, const std::string& path) {
    if (!j.is_object()) {
        return fail(type_error(path, "an object", j));
    }
    return ok();
}

Status check_array(const json& j, const std::string& path) {
    if (!j.is_array()) {
        return fail(type_error(path, "an array", j));
    }
    return ok();
}

Status check_keys(const json& j, const std::string& path,
                  std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : j.items()) {
        bool found = false;
        for (auto n : known) {
            if (n == k) {
                found = true;
                break;
            }
        }
        if (found) {
            continue;
        }
        // Vendor extensions are namespaced with a dot or live in annotations; plain unknown
        // keys are almost always typos.
        std::vector<std::string> names(known.begin(), known.end());
        std::string hint = closest_match(k, names);
        if (!hint.empty()) {
            return fail(
                Error::msg("{}: unknown key (did you mean \"{}\"?)", json_path(path, k), hint));
        }
        return fail(Error::msg("{}: unknown key", json_path(path, k)));
    }
    return ok();
}

Result<std::string> get_string(const json& j, const std::string& path, std::string_view key,
                               bool required) {
    auto it = j.find(key);
    std::string p = json_path(path, key);
    if (it == j.end()) {
        if (required) {
            return fail(Error::msg("{}: missing", p));
        }
        return std::string();
    }
    if (!it->is_string()) {
        return fail(type_error(p, "a string", *it));
    }
    return it->get<std::string>();
}

Result<uint64_t> get_u64(const json& j, const std::string& path, std::string_view key,
                         bool required) {
    auto it = j.find(key);
    std::string p = json_path(path, key);
    if (it == j.end()) {
        if (required) {
            return fail(Error::msg("{}: missing", p));
        }
        return uint64_t{0};
    }
    if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
        return fail(type_error(p, "an unsigned integer", *it));
    }
    return it->get<uint64_t>();
}

Result<uint32_t> as_u32(const json& v, const std::string& path, uint32_t max) {
    // nlohmann stores non-negative literals built in C++ as signed integers.
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<uint64_t>() > max) {
        return fail(type_error(path, fmt::format("an unsigned integer up to {}", max), v));
    }
    return static_cast<uint32_t>(v.get<uint64_t>());
}

Result<uint32_t> get_u32(const json& j, const std::string& path, std::string_view key,
                         bool required) {
    auto it = j.find(key);
    std::string p = json_path(path, key);
    if (it == j.end()) {
        if (required) {
            return fail(Error::msg("{}: missing", p));
        }
        return uint32_t{0};
    }
    return as_u32(*it, p, UINT32_MAX);
}

Result<std::vector<std::string>> get_string_array(const json& j, const std::string& path,
                                                  std::string_view key) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end()) {
        return out;
    }
    std::string p = json_path(path, key);
    GANTRY_TRY(check_array(*it, p));
    for (size_t i = 0; i < it->size(); i++) {
        const json& v = (*it)[i];
        if (!v.is_string()) {
            return fail(type_error(fmt::format("{}[{}]", p, i), "a string", v));
        }
        out.push_back(v.get<std::string>());
    }
    return out;
}

}  // namespace gantry::runtime
