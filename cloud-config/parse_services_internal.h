// Value syntaxes used inside a service (parse_service_values.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/strings.h"
#include "base/units.h"
#include "cloud-config/parse_internal.h"

namespace gantry::config::detail {

// Shell-like word splitting of a string command (quotes, backslashes; no expansion).
// nullopt on an unterminated quote.
std::optional<std::vector<std::string>> split_command(std::string_view s);

std::optional<Port> parse_port_short(Reader& r, const YAML::Node& n, const std::string& path);
std::optional<Port> parse_port_long(Reader& r, const YAML::Node& n, const std::string& path);
std::optional<Volume> parse_volume(Reader& r, const YAML::Node& n, const std::string& path);
std::optional<Tmpfs> parse_tmpfs(Reader& r, const YAML::Node& n, const std::string& path);
std::optional<int> parse_signal(Reader& r, const YAML::Node& n, const std::string& path);
// Upper-case with the CAP_ prefix, or "ALL".
std::optional<std::string> parse_capability(Reader& r, const YAML::Node& n,
                                            const std::string& path);

}  // namespace gantry::config::detail
