#include "base/units.h"

#include <cmath>
#include <limits>

namespace gantry {
namespace {

struct Number {
    uint64_t whole = 0;
    // Fraction digits, as a numerator over 10^frac_digits.
    uint64_t frac = 0;
    int frac_digits = 0;
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Parses [0-9]+(\.[0-9]+)? at the front of `s`, advancing it. Returns false on overflow or
// when there is no digit.
bool take_number(std::string_view& s, Number& n, bool& overflow) {
    size_t i = 0;
    bool any = false;
    while (i < s.size() && is_digit(s[i])) {
        uint64_t d = static_cast<uint64_t>(s[i] - '0');
        if (n.whole > (std::numeric_limits<uint64_t>::max() - d) / 10) {
            overflow = true;
            return false;
        }
        n.whole = n.whole * 10 + d;
        any = true;
        ++i;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        bool frac_any = false;
        while (i < s.size() && is_digit(s[i])) {
            if (n.frac_digits < 18) {  // more digits than 10^18 cannot matter at ns/byte scale
                n.frac = n.frac * 10 + static_cast<uint64_t>(s[i] - '0');
                ++n.frac_digits;
            }
            frac_any = true;
            ++i;
        }
        if (!frac_any) {
            return false;
        }
        any = true;
    }
    s.remove_prefix(i);
    return any;
}

uint64_t pow10(int n) {
    uint64_t p = 1;
    while (n-- > 0) {
        p *= 10;
    }
    return p;
}

// n * unit, exact when the fraction lands on a whole number; false on overflow.
bool scale(const Number& n, uint64_t unit, uint64_t& out, bool& inexact) {
    unsigned __int128 whole = static_cast<unsigned __int128>(n.whole) * unit;
    unsigned __int128 frac_num = static_cast<unsigned __int128>(n.frac) * unit;
    uint64_t denom = pow10(n.frac_digits);
    inexact = frac_num % denom != 0;
    unsigned __int128 total = whole + frac_num / denom;
    if (total > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
        return false;
    }
    out = static_cast<uint64_t>(total);
    return true;
}

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
    std::string_view s = text;
    constexpr const char* kHint = "write it like 30s, 1m30s, 100ms or 2h";
    if (s.empty()) {
        return fail(Error::msg("empty duration: {}", kHint));
    }
    if (s == "0") {
        return Duration(0);
    }
    if (s.front() == '-') {
        return fail(Error::msg("\"{}\" is negative: a duration must be 0 or more", text));
    }
    uint64_t total = 0;
    while (!s.empty()) {
        Number n;
        bool overflow = false;
        if (!take_number(s, n, overflow)) {
            if (overflow) {
                return fail(Error::msg(
                    "\"{}\" is too long: the largest duration is about 292 years", text));
            }
            return fail(Error::msg("\"{}\" is not a duration: expected a number at \"{}\"; {}",
                                   text, s, kHint));
        }
        size_t u = 0;
        while (u < s.size() && !is_digit(s[u]) && s[u] != '.') {
            ++u;
        }
        std::string_view unit = s.substr(0, u);
        s.remove_prefix(u);
        uint64_t ns;
        if (unit == "ns") {
            ns = 1;
        } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
            ns = 1000;
        } else if (unit == "ms") {
            ns = 1000 * 1000;
        } else if (unit == "s") {
            ns = 1000ull * 1000 * 1000;
        } else if (unit == "m") {
            ns = 60ull * 1000 * 1000 * 1000;
        } else if (unit == "h") {
            ns = 3600ull * 1000 * 1000 * 1000;
        } else if (unit.empty()) {
            return fail(Error::msg("\"{}\" has no unit: {}", text, kHint));
        } else {
            return fail(Error::msg("\"{}\" has an unknown unit \"{}\": use ns, us, ms, s, m or h",
                                   text, unit));
        }
        uint64_t part;
        bool inexact;
        if (!scale(n, ns, part, inexact) ||
            total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - part) {
            return fail(
                Error::msg("\"{}\" is too long: the largest duration is about 292 years", text));
        }
        total += part;
    }
    return Duration(static_cast<int64_t>(total));
}

std::string format_duration(Duration d) {
    int64_t ns = d.count();
    if (ns == 0) {
        return "0s";
    }
    std::string out;
    if (ns < 0) {
        out = "-";
        ns = -ns;
    }
    constexpr int64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs, kM = 60 * kS, kH = 60 * kM;
    if (ns % kMs != 0 && ns < kS) {
        if (ns % kUs == 0) {
            return out + fmt::format("{}us", ns / kUs);
        }
        return out + fmt::format("{}ns", ns);
    }
    if (ns < kS) {
        return out + fmt::format("{}ms", ns / kMs);
    }
    if (ns >= kH) {
        out += fmt::format("{}h", ns / kH);
        ns %= kH;
    }
    if (ns >= kM) {
        out += fmt::format("{}m", ns / kM);
        ns %= kM;
    }
    if (ns > 0) {
        int64_t s = ns / kS, rest = ns % kS;
        if (rest == 0) {
            out += fmt::format("{}s", s);
        } else {
            std::string frac = fmt::format("{:09d}", rest);
            while (!frac.empty() && frac.back() == '0') {
                frac.pop_back();
            }
            out += fmt::format("{}.{}s", s, frac);
        }
    }
    return out;
}

Result<uint64_t> parse_size(std::string_view text) {
    std::string_view s = text;
    constexpr const char* kHint = "write it like 512k, 64M, 1.5GiB or 1048576";
    if (s.empty()) {
        return fail(Error::msg("empty size: {}", kHint));
    }
    if (s.front() == '-') {
        return fail(Error::msg("\"{}\" is negative: a size must be 0 or more", text));
    }
    Number n;
    bool overflow = false;
    if (!take_number(s, n, overflow)) {
        if (overflow) {
            return fail(Error::msg("\"{}\" is too large: the largest size is 8EiB", text));
        }
        return fail(Error::msg("\"{}\" is not a size: {}", text, kHint));
    }
    std::string unit;
    for (char c : s) {
        unit += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    uint64_t mult = 1;
    if (!unit.empty()) {
        static constexpr std::string_view kUnits = "bkmgtp";
        auto idx = kUnits.find(unit[0]);
        std::string_view rest = std::string_view(unit).substr(1);
        bool ok_suffix = idx != std::string_view::npos &&
                         (rest.empty() || (idx > 0 && (rest == "b" || rest == "ib")));
        if (!ok_suffix) {
            return fail(Error::msg(
                "\"{}\" has an unknown unit \"{}\": use b, k, m, g, t or p (powers of 1024)", text,
                s));
        }
        for (size_t i = 0; i < idx; ++i) {
            mult *= 1024;
        }
    }
    uint64_t out;
    bool inexact;
    if (!scale(n, mult, out, inexact)) {
        return fail(Error::msg("\"{}\" is too large: the largest size is 8EiB", text));
    }
    if (inexact) {
        return fail(Error::msg("\"{}\" is not a whole number of bytes", text));
    }
    return out;
}

std::string format_size(uint64_t bytes) {
    static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int i = 0;
    double v = static_cast<double>(bytes);
    while (v >= 1024 && i < 6) {
        v /= 1024;
        ++i;
    }
    if (i == 0) {
        return fmt::format("{}B", bytes);
    }
    if (v == std::floor(v)) {
        return fmt::format("{}{}", static_cast<uint64_t>(v), kNames[i]);
    }
    return fmt::format("{:.1f}{}", v, kNames[i]);
}

}  // namespace gantry
