// Logging: levels, structured fields, a rate limit, three sinks.
//
//   log::info("service started", {{"service", "web"}, {"pid", 42}});
//   -> level=info msg="service started" service=web pid=42           (text)
//   -> {"level":"info","msg":"service started","service":"web","pid":"42"}   (json)
//
// PID 1 writes to /dev/kmsg with a "<prio>" prefix so lines land in the kernel ring and on
// the console before any file system exists (systemd's log.c does the same); everything
// else writes to stderr. The level is checked before anything is formatted. A token
// bucket limits bursts, so a service flooding errors cannot drown the console; what was
// dropped is counted and reported once the bucket refills.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace gantry::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format { Text, Json };
enum class Target { Auto, Stderr, Kmsg };

// One key=value field. Values are strings; numbers are formatted on construction.
struct Field {
    std::string_view key;
    std::string value;
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    template <typename T>
    requires std::is_arithmetic_v<T> Field(std::string_view k, T v)
        : key(k), value(fmt::to_string(v)) {}
};
using Fields = std::initializer_list<Field>;

struct Options {
    Level min_level = Level::Info;
    Format format = Format::Text;
    Target target = Target::Auto;              // Kmsg when running as PID 1, else Stderr
    std::string ident = "gantry";              // prefix on kmsg lines
    uint32_t burst = 200;                      // lines allowed back to back...
    std::chrono::milliseconds interval{1000};  // ...refilled over this interval
};

// A sink receives whole lines without the trailing newline. Tests install their own.
using Sink = std::function<void(Level, std::string_view line)>;
using Clock = std::function<std::chrono::steady_clock::time_point()>;

void configure(const Options& opts);
// Replaces the output (nullptr restores the configured target) and the clock.
void set_sink_for_test(Sink sink, Clock clock = nullptr);
bool enabled(Level level);
// Parses "debug", "info", "warn", "error".
bool parse_level(std::string_view s, Level& out);

void write(Level level, std::string_view msg, Fields fields = {});

inline void debug(std::string_view msg, Fields f = {}) {
    if (enabled(Level::Debug)) {
        write(Level::Debug, msg, f);
    }
}
inline void info(std::string_view msg, Fields f = {}) {
    if (enabled(Level::Info)) {
        write(Level::Info, msg, f);
    }
}
inline void warn(std::string_view msg, Fields f = {}) {
    if (enabled(Level::Warn)) {
        write(Level::Warn, msg, f);
    }
}
inline void error(std::string_view msg, Fields f = {}) {
    if (enabled(Level::Error)) {
        write(Level::Error, msg, f);
    }
}

// Formats one record; exposed for tests and for sinks that add their own framing.
std::string format_record(Format format, Level level, std::string_view msg, Fields fields);

}  // namespace gantry::log
