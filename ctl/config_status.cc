// gantryctl config status: which config the running machine uses, where it came from,
// and what was refused and why (the `config` API request).
#include <fmt/format.h>

#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

namespace {

std::string source_text(const nlohmann::json& s) {
    if (!s.is_object()) {
        return "none";
    }
    return fmt::format("{} ({})", s.value("location", ""), s.value("kind", ""));
}

}  // namespace

int cmd_config_status(int argc, char** argv) {
    const char* usage = "config status [--socket PATH] [--output json]";
    auto a = parse_args(argc, argv, {}, {});
    if (!a) {
        return usage_error("config status", usage, a.error().str());
    }
    if (!a->positional.empty()) {
        return usage_error("config status", usage, "takes no arguments");
    }
    auto r = call(*a, "config status", {{"cmd", "config"}});
    if (!r) {
        return 1;
    }
    if (a->json) {
        r->erase("ok");
        fmt::print("{}\n", r->dump(2));
        return 0;
    }
    fmt::print("source:   {}\n", source_text((*r)["source"]));
    fmt::print("message:  {}\n", r->value("message", ""));
    if ((*r)["refused"].is_object()) {
        fmt::print("refused:  {}\n", source_text((*r)["refused"]));
    }
    const auto& errors = (*r)["errors"];
    if (errors.is_array() && !errors.empty()) {
        fmt::print("errors:\n");
        for (const auto& e : errors) {
            fmt::print("  {}\n", e.get<std::string>());
        }
    }
    fmt::print("services: {}\n", (*r)["services"].size());
    for (const auto& s : (*r)["services"]) {
        std::string image = s.value("image", "");
        fmt::print(
            "  {:<20} {}{}\n", s.value("name", ""), image.empty() ? "(host process)" : image,
            s.contains("image_error") ? "  ERROR: " + s["image_error"].get<std::string>() : "");
    }
    // Non-zero when the running config is not the one that was given: scripts can check.
    return (*r)["refused"].is_object() || (errors.is_array() && !errors.empty()) ? 1 : 0;
}

}  // namespace gantry::ctl
