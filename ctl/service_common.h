// Shared bits of the service subcommands: argument scanning, the API connection, output.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "supervisor/api_client.h"

namespace gantry::ctl {

struct Args {
    std::string socket;
    bool json = false;                    // --output json / -o json
    std::vector<std::string> positional;  // in order, after options were taken out
    std::vector<std::string> after_dashdash;
    std::vector<std::pair<std::string, std::string>> options;  // --tail 5 -> {"tail","5"}
    std::vector<std::string> flags;                            // -f -> "f"

    bool has_flag(std::string_view f) const;
    std::optional<std::string> option(std::string_view name) const;
};

// `valued` lists options that take a value ("tail", "since"); `switches` lists flags
// ("f", "follow"). --socket and --output are known everywhere. Unknown options are errors.
Result<Args> parse_args(int argc, char** argv, const std::vector<std::string>& valued,
                        const std::vector<std::string>& switches);

Result<supervisor::ApiClient> connect(const Args& a);
// One request; prints "gantryctl <cmd>: <error>" and returns nullopt on failure.
std::optional<nlohmann::json> call(const Args& a, const std::string& cmd,
                                   const nlohmann::json& req);

int usage_error(const std::string& cmd, const std::string& usage, const std::string& problem = "");
// Applies one request per SERVICE (start/stop/restart).
int per_service(int argc, char** argv, const std::string& cmd);
std::string human_duration(double seconds);

}  // namespace gantry::ctl
