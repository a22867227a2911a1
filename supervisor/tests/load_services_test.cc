#include "supervisor/load_services.h"

#include <gtest/gtest.h>

namespace gantry::supervisor {
namespace {

using namespace std::chrono_literals;

TEST(LoadServices, ParsesComposeLikeFields) {
    auto r = parse_services(R"({"services":{"web":{
        "command":["/bin/web","--port","80"], "environment":{"A":"1"}, "restart":"on-failure:3",
        "depends_on":{"db":{"condition":"service_healthy"}}, "notify":true,
        "healthcheck":{"test":["CMD-SHELL","curl -f localhost"],"interval":"5s","retries":2},
        "stop_signal":"SIGINT","stop_grace_period":"3s","resources":{"memory":"64M","pids":10},
        "backoff":{"initial":"1s","max":"1m"},"start_limit":{"burst":3,"interval":"30s"},
        "logging":{"max_size":"1M","max_files":2}},
      "db":{"command":"exec db","type":"oneshot"}}})",
                            "t.json");
    ASSERT_TRUE(r) << r.error().str();
    ASSERT_EQ(r->size(), 2u);
    const ServiceSpec& db = (*r)[0];
    EXPECT_EQ(db.argv, (std::vector<std::string>{"/bin/sh", "-c", "exec db"}));
    EXPECT_EQ(db.type, ServiceType::Oneshot);
    const ServiceSpec& web = (*r)[1];
    EXPECT_EQ(web.restart, RestartPolicy::OnFailure);
    EXPECT_EQ(web.max_retries, 3);
    EXPECT_EQ(web.env, (std::vector<std::string>{"A=1"}));
    EXPECT_EQ(web.depends_on.at(0).condition, DependCondition::Healthy);
    EXPECT_EQ(web.healthcheck->test,
              (std::vector<std::string>{"/bin/sh", "-c", "curl -f localhost"}));
    EXPECT_EQ(web.healthcheck->interval, 5s);
    EXPECT_EQ(web.stop_signal, SIGINT);
    EXPECT_EQ(web.resources.memory_bytes, 64u << 20);
    EXPECT_EQ(web.backoff.max, 60s);
    EXPECT_EQ(web.start_limit.burst, 3);
    EXPECT_EQ(web.logging.max_files, 2);
}

TEST(LoadServices, ErrorsNameTheField) {
    auto bad = [](std::string_view text) {
        auto r = parse_services(text, "f.json");
        return r ? std::string("ok") : r.error().str();
    };
    EXPECT_EQ(bad(R"({"services":{"a":{"command":["x"],"restart":"allways"}}})"),
              "f.json: services.a: restart: \"allways\" is not one of no, always, on-failure[:N], "
              "unless-stopped (did you mean \"always\"?)");
    EXPECT_EQ(bad(R"({"services":{"a":{"comand":["x"]}}})"),
              "f.json: services.a: unknown key \"comand\" (did you mean \"command\"?)");
    EXPECT_NE(bad(R"({"services":{"a":{"command":["x"],"stop_grace_period":"10"}}})")
                  .find("stop_grace_period"),
              std::string::npos);
    EXPECT_NE(bad(R"({"services":{"a":{"command":["x"],"notify":"yes"}}})").find("services.a"),
              std::string::npos);
    EXPECT_EQ(bad("[]"), "f.json: not a JSON object");
}

TEST(ServiceSpec, SignalsAndRestart) {
    EXPECT_EQ(*parse_signal("SIGKILL"), 9);
    EXPECT_EQ(*parse_signal("TERM"), 15);
    EXPECT_EQ(*parse_signal("2"), 2);
    EXPECT_FALSE(parse_signal("SIGFOO"));
    EXPECT_EQ(signal_name(15), "SIGTERM");
    RestartPolicy p;
    int n;
    EXPECT_TRUE(parse_restart("unless-stopped", p, n));
    EXPECT_EQ(p, RestartPolicy::UnlessStopped);
    EXPECT_FALSE(parse_restart("on-failure:x", p, n));
}

}  // namespace
}  // namespace gantry::supervisor
