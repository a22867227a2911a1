// Typed access to config.json values with errors that name the JSON path. Internal to the
// spec parser (spec.cc, process parsing for exec); not part of the runtime's API.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::runtime {

// "process" + "user" -> "process.user"; "" + "ociVersion" -> "ociVersion".
std::string json_path(const std::string& parent, std::string_view key);
// `path: expected a string, got 42`.
Error type_error(const std::string& path, std::string_view expected, const nlohmann::json& got);
// `path: unknown value "x" (did you mean "y"?); one of a, b, c`.
Error unknown_value(const std::string& path, const std::string& value,
                    const std::vector<std::string>& allowed);

Status check_object(const nlohmann::json& j, const std::string& path);
Status check_array(const nlohmann::json& j, const std::string& path);
// Unknown keys are errors (a typo must not be silently ignored), with a did-you-mean hint.
Status check_keys(const nlohmann::json& j, const std::string& path,
                  std::initializer_list<std::string_view> known);

Result<std::string> get_string(const nlohmann::json& j, const std::string& path,
                               std::string_view key, bool required);
Result<uint32_t> get_u32(const nlohmann::json& j, const std::string& path, std::string_view key,
                         bool required);
Result<uint64_t> get_u64(const nlohmann::json& j, const std::string& path, std::string_view key,
                         bool required);
Result<uint32_t> as_u32(const nlohmann::json& v, const std::string& path, uint32_t max);
Result<std::vector<std::string>> get_string_array(const nlohmann::json& j, const std::string& path,
                                                  std::string_view key);

}  // namespace gantry::runtime
