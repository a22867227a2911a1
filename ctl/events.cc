// gantryctl events [-f]: service state changes, oldest first.
#include <fmt/format.h>
#include <time.h>

#include "ctl/service_cmds.h"
#include "ctl/service_common.h"

namespace gantry::ctl {

using nlohmann::json;

namespace {

void print_event(const json& e, bool as_json) {
    if (as_json) {
        fmt::print("{}\n", e.dump(-1, ' ', false, json::error_handler_t::replace));
        return;
    }
    int64_t us = e.value("time_us", int64_t{0});
    time_t secs = static_cast<time_t>(us / 1000000);
    struct tm tm;
    localtime_r(&secs, &tm);
    std::string detail = e.value("detail", "");
    fmt::print("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} {:<16} {} -> {}{}\n", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000 / 1000,
               e.value("service", ""), e.value("from", ""), e.value("to", ""),
               detail.empty() ? "" : " (" + detail + ")");
}

}  // namespace

int cmd_events(int argc, char** argv) {
    const char* usage = "events [--socket PATH] [-f|--follow] [--output json]";
    auto a = parse_args(argc, argv, {}, {"f", "follow"});
    if (!a) {
        return usage_error("events", usage, a.error().str());
    }
    bool follow = a->has_flag("f") || a->has_flag("follow");
    auto c = connect(*a);
    if (!c) {
        fmt::print(stderr, "gantryctl events: {}\n", c.error().str());
        return 1;
    }
    auto r = c->call({{"cmd", "events"}, {"follow", follow}});
    if (!r) {
        fmt::print(stderr, "gantryctl events: {}\n", r.error().str());
        return 1;
    }
    for (const auto& e : (*r)["events"]) {
        print_event(e, a->json);
    }
    while (follow) {
        std::fflush(stdout);
        auto next = c->next();
        if (!next) {
            fmt::print(stderr, "gantryctl events: {}\n", next.error().str());
            return 1;
        }
        if (next->contains("event")) {
            print_event((*next)["event"], a->json);
        }
    }
    return 0;
}

}  // namespace gantry::ctl
