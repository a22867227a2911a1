// gantryctl logs: a service's output, optionally followed.
#include <fmt/format.h>

#include <charconv>

#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

using nlohmann::json;

int cmd_logs(int argc, char** argv) {
    const char* usage =
        "logs [--socket PATH] [-f|--follow] [--tail N] [--since DURATION|EPOCH-SECONDS] "
        "[--output json] SERVICE";
    auto a = parse_args(argc, argv, {"tail", "n", "since"}, {"f", "follow"});
    if (!a) {
        return usage_error("logs", usage, a.error().str());
    }
    if (a->positional.size() != 1) {
        return usage_error("logs", usage, "name one service");
    }
    json req{{"cmd", "logs"}, {"service", a->positional[0]}};
    auto tail = a->option("tail") ? a->option("tail") : a->option("n");
    if (tail) {
        size_t n = 0;
        auto [p, ec] = std::from_chars(tail->data(), tail->data() + tail->size(), n);
        if (ec != std::errc() || p != tail->data() + tail->size()) {
            return usage_error("logs", usage,
                               fmt::format("--tail wants a number, not \"{}\"", *tail));
        }
        req["tail"] = n;
    }
    if (auto since = a->option("since")) {
        double epoch = 0;
        auto [p, ec] = std::from_chars(since->data(), since->data() + since->size(), epoch);
        if (ec == std::errc() && p == since->data() + since->size()) {
            req["since"] = epoch;
        } else {
            req["since"] = *since;  // a duration ago; the server checks the syntax
        }
    }
    bool follow = a->has_flag("f") || a->has_flag("follow");
    req["follow"] = follow;
    auto c = connect(*a);
    if (!c) {
        fmt::print(stderr, "gantryctl logs: {}\n", c.error().str());
        return 1;
    }
    auto r = c->call(req);
    if (!r) {
        fmt::print(stderr, "gantryctl logs: {}\n", r.error().str());
        return 1;
    }
    auto print = [&](const std::string& line) {
        if (a->json) {
            fmt::print("{}\n",
                       json{{"line", line}}.dump(-1, ' ', false, json::error_handler_t::replace));
        } else {
            fmt::print("{}\n", line);
        }
    };
    for (const auto& l : (*r)["lines"]) {
        print(l.get<std::string>());
    }
    while (follow) {
        std::fflush(stdout);
        auto next = c->next();
        if (!next) {
            fmt::print(stderr, "gantryctl logs: {}\n", next.error().str());
            return 1;
        }
        if (next->contains("line")) {
            print((*next)["line"].get<std::string>());
        }
    }
    return 0;
}

}  // namespace gantry::ctl
