#include "base/log.h"

#include <gtest/gtest.h>

#include <vector>

namespace gantry::log {
namespace {

using namespace std::chrono_literals;

struct Capture {
    std::vector<std::string> lines;
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point(1h);
};

class LogTest : public ::testing::Test {
  protected:
    void SetUp() override { install({}); }
    void TearDown() override {
        set_sink_for_test(nullptr);
        configure(Options{});
    }
    void install(Options o) {
        configure(o);
        set_sink_for_test([this](Level, std::string_view l) { cap_.lines.emplace_back(l); },
                          [this] { return cap_.now; });
    }
    Capture cap_;
};

TEST_F(LogTest, TextRecordQuotesWhereNeeded) {
    info("service started", {{"service", "web"}, {"pid", 42}, {"cmd", "sleep 1"}});
    ASSERT_EQ(cap_.lines.size(), 1u);
    EXPECT_EQ(cap_.lines[0],
              "level=info msg=\"service started\" service=web pid=42 cmd=\"sleep 1\"");
}

TEST_F(LogTest, JsonRecordEscapes) {
    EXPECT_EQ(format_record(Format::Json, Level::Error, "bad \"x\"\n", {{"k", "a\tb"}}),
              "{\"level\":\"error\",\"msg\":\"bad \\\"x\\\"\\n\",\"k\":\"a\\tb\"}");
}

TEST_F(LogTest, LevelFilters) {
    Options o;
    o.min_level = Level::Warn;
    install(o);
    info("hidden");
    debug("hidden");
    warn("shown");
    error("shown too");
    EXPECT_EQ(cap_.lines.size(), 2u);
    EXPECT_FALSE(enabled(Level::Info));
    EXPECT_TRUE(enabled(Level::Error));
}

TEST_F(LogTest, RateLimitDropsAndReportsCount) {
    Options o;
    o.burst = 5;
    o.interval = 1000ms;
    install(o);
    for (int i = 0; i < 20; ++i) {
        info("flood", {{"i", i}});
    }
    EXPECT_EQ(cap_.lines.size(), 5u);
    cap_.now += 2s;  // bucket refills
    info("after");
    ASSERT_EQ(cap_.lines.size(), 7u);
    EXPECT_EQ(cap_.lines[5], "level=warn msg=\"log messages suppressed by rate limit\" count=15");
    EXPECT_EQ(cap_.lines[6], "level=info msg=after");
}

TEST_F(LogTest, ParseLevel) {
    Level l;
    EXPECT_TRUE(parse_level("debug", l));
    EXPECT_EQ(l, Level::Debug);
    EXPECT_TRUE(parse_level("warning", l));
    EXPECT_EQ(l, Level::Warn);
    EXPECT_FALSE(parse_level("loud", l));
}

}  // namespace
}  // namespace gantry::log
