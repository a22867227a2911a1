#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <mutex>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::log {
namespace {

struct State {
    std::mutex mu;  // the supervised daemons may log from more than one thread
    Options opts;
    Sink sink;
    Clock clock;
    Fd kmsg;
    bool kmsg_tried = false;
    // Token bucket.
    double tokens = 200;
    std::chrono::steady_clock::time_point last_refill{};
    uint64_t suppressed = 0;
};

State& state() {
    static State* s = new State();  // never destroyed: logging works during exit
    return *s;
}

const char* level_name(Level l) {
    switch (l) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warn:
            return "warn";
        case Level::Error:
            return "error";
    }
    return "info";
}

// syslog priorities for the kmsg "<N>" prefix.
int kmsg_priority(Level l) {
    switch (l) {
        case Level::Debug:
            return 7;
        case Level::Info:
            return 6;
        case Level::Warn:
            return 4;
        case Level::Error:
            return 3;
    }
    return 6;
}

bool needs_quotes(std::string_view v) {
    if (v.empty()) {
        return true;
    }
    for (char c : v) {
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
            return true;
        }
    }
    return false;
}

void append_text_value(std::string& out, std::string_view v) {
    if (!needs_quotes(v)) {
        out += v;
        return;
    }
    out += '"';
    for (char c : v) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
            out += c;
        }
    }
    out += '"';
}

void append_json_string(std::string& out, std::string_view v) {
    out += json_quote(v);
}

void emit(State& s, Level level, std::string_view line) {
    if (s.sink) {
        s.sink(level, line);
        return;
    }
    bool use_kmsg =
        s.opts.target == Target::Kmsg || (s.opts.target == Target::Auto && ::getpid() == 1);
    if (use_kmsg && !s.kmsg_tried) {
        s.kmsg_tried = true;
        if (auto fd = Fd::open("/dev/kmsg", O_WRONLY | O_NOCTTY)) {
            s.kmsg = std::move(*fd);
        }
    }
    if (use_kmsg && s.kmsg.valid()) {
        // One write per record: kmsg turns each write into one ring entry.
        std::string rec = fmt::format("<{}>{}: {}\n", kmsg_priority(level), s.opts.ident, line);
        (void)!::write(s.kmsg.get(), rec.data(), rec.size());
        return;
    }
    std::string rec(line);
    rec += '\n';
    (void)!::write(STDERR_FILENO, rec.data(), rec.size());
}

}  // namespace

void configure(const Options& opts) {
    State& s = state();
    std::lock_guard lock(s.mu);
    s.opts = opts;
    s.tokens = opts.burst;
    s.kmsg.reset();
    s.kmsg_tried = false;
}

void set_sink_for_test(Sink sink, Clock clock) {
    State& s = state();
    std::lock_guard lock(s.mu);
    s.sink = std::move(sink);
    s.clock = std::move(clock);
    s.tokens = s.opts.burst;
    s.suppressed = 0;
    s.last_refill = {};
}

bool enabled(Level level) {
    // Read without the lock: a stale level for one record is harmless.
    return static_cast<int>(level) >= static_cast<int>(state().opts.min_level);
}

bool parse_level(std::string_view v, Level& out) {
    for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
        if (v == level_name(l)) {
            out = l;
            return true;
        }
    }
    if (v == "warning") {
        out = Level::Warn;
        return true;
    }
    return false;
}

std::string format_record(Format format, Level level, std::string_view msg, Fields fields) {
    std::string out;
    if (format == Format::Json) {
        out = "{\"level\":";
        append_json_string(out, level_name(level));
        out += ",\"msg\":";
        append_json_string(out, msg);
        for (const Field& f : fields) {
            out += ',';
            append_json_string(out, f.key);
            out += ':';
            append_json_string(out, f.value);
        }
        out += '}';
        return out;
    }
    out = "level=";
    out += level_name(level);
    out += " msg=";
    append_text_value(out, msg);
    for (const Field& f : fields) {
        out += ' ';
        out += f.key;
        out += '=';
        append_text_value(out, f.value);
    }
    return out;
}

void write(Level level, std::string_view msg, Fields fields) {
    State& s = state();
    std::lock_guard lock(s.mu);
    auto now = s.clock ? s.clock() : std::chrono::steady_clock::now();
    if (s.last_refill == std::chrono::steady_clock::time_point{}) {
        s.last_refill = now;
    }
    double per_ms =
        static_cast<double>(s.opts.burst) / static_cast<double>(s.opts.interval.count());
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.last_refill);
    if (elapsed.count() > 0) {
        s.tokens = std::min<double>(s.opts.burst,
                                    s.tokens + per_ms * static_cast<double>(elapsed.count()));
        s.last_refill = now;
    }
    if (s.tokens < 1) {
        ++s.suppressed;
        return;
    }
    if (s.suppressed > 0) {
        s.tokens -= 1;
        std::string note =
            format_record(s.opts.format, Level::Warn, "log messages suppressed by rate limit",
                          {{"count", s.suppressed}});
        s.suppressed = 0;
        emit(s, Level::Warn, note);
        if (s.tokens < 1) {
            ++s.suppressed;
            return;
        }
    }
    s.tokens -= 1;
    emit(s, level, format_record(s.opts.format, level, msg, fields));
}

}  // namespace gantry::log
