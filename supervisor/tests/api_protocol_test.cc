#include "supervisor/api_protocol.h"

#include <gtest/gtest.h>

#include "supervisor/driver.h"

namespace gantry::supervisor {
namespace {

std::string err(std::string_view line) {
    auto r = parse_request(line, 1000000000);
    return r ? "ok" : r.error().str();
}

TEST(ApiRequest, ParsesCommands) {
    auto r = parse_request(R"({"cmd":"logs","service":"web","tail":10,"follow":true})", 0);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->cmd, Command::Logs);
    EXPECT_EQ(r->service, "web");
    EXPECT_EQ(r->tail, 10u);
    EXPECT_TRUE(r->follow);
    auto e = parse_request(R"({"cmd":"exec","service":"db","argv":["ls","-l"],"timeout":"5s"})", 0);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->argv, (std::vector<std::string>{"ls", "-l"}));
    EXPECT_EQ(e->timeout, std::chrono::seconds(5));
    EXPECT_EQ(parse_request(R"({"cmd":"ps"})", 0)->cmd, Command::Ps);
    EXPECT_EQ(parse_request(R"({"cmd":"reboot"})", 0)->cmd, Command::Reboot);
}

TEST(ApiRequest, SinceAbsoluteAndRelative) {
    EXPECT_EQ(parse_request(R"({"cmd":"logs","service":"a","since":1.5})", 0)->since_us, 1500000);
    EXPECT_EQ(parse_request(R"({"cmd":"logs","service":"a","since":"10s"})", 100000000)->since_us,
              90000000);
}

TEST(ApiRequest, ClearErrors) {
    EXPECT_EQ(err("not json"), "request is not valid JSON (send one JSON object per line)");
    EXPECT_EQ(err("[1,2]"), "request must be a JSON object like {\"cmd\":\"ps\"}");
    EXPECT_EQ(err("{}"), "request has no \"cmd\" string");
    EXPECT_EQ(err(R"({"cmd":7})"), "request has no \"cmd\" string");
    EXPECT_NE(err(R"({"cmd":"stp","service":"a"})").find("did you mean \"stop\""),
              std::string::npos);
    EXPECT_EQ(err(R"({"cmd":"stop"})"), "stop needs a \"service\"");
    EXPECT_EQ(err(R"({"cmd":"stop","service":""})"), "\"service\" must be a non-empty string");
    EXPECT_EQ(err(R"({"cmd":"logs","service":"a","tail":-1})"), "\"tail\" must be a count >= 0");
    EXPECT_EQ(err(R"({"cmd":"logs","service":"a","follow":"yes"})"),
              "\"follow\" must be true or false");
    EXPECT_EQ(err(R"({"cmd":"exec","service":"a"})"),
              "exec needs \"argv\": a non-empty array of strings");
    EXPECT_EQ(err(R"({"cmd":"exec","service":"a","argv":[1]})"),
              "exec \"argv\" must hold only strings");
    EXPECT_EQ(err(R"({"cmd":"exec","service":"a","argv":["x"],"timeout":5})"),
              "\"timeout\" must be a duration like \"30s\"");
    EXPECT_NE(err(R"({"cmd":"logs","service":"a","since":"yesterday"})").find("\"since\""),
              std::string::npos);
    EXPECT_NE(err(std::string(70000, ' ')).find("request too long"), std::string::npos);
}

TEST(ApiRequest, SurvivesDeepNestingAndBinary) {
    std::string deep(5000, '[');
    EXPECT_NE(err(deep), "ok");
    EXPECT_NE(err(std::string("\x00\xff\xfe", 3)), "ok");
}

TEST(ApiJson, ExecResult) {
    ExecResult r{{ExitStatus::Kind::Killed, 0, 9}, true, "x"};
    auto j = exec_json(r);
    EXPECT_EQ(j["status"], "timed out");
    EXPECT_EQ(j["exit_code"], 137);
}

TEST(CgroupEvents, ReadsOneCounter) {
    std::string mem = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
    EXPECT_EQ(parse_oom_kills(mem), 2u);
    EXPECT_EQ(parse_events_counter(mem, "oom"), 3u);  // not oom_kill's line
    EXPECT_EQ(parse_events_counter("max 7\n", "max"), 7u);
    EXPECT_EQ(parse_events_counter("max 7\n", "ma"), std::nullopt);
    EXPECT_EQ(parse_events_counter("", "max"), std::nullopt);
}

}  // namespace
}  // namespace gantry::supervisor
