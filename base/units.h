// Durations ("100ms", "1m30s") and sizes ("64M", "1.5GiB") as people write them in
// configs, parsed exactly: an error says what was wrong and what would be right.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace gantry {

using Duration = std::chrono::nanoseconds;

// Go/Compose duration syntax: one or more <number><unit> terms, units ns, us (or µs), ms,
// s, m, h; a number may have a fraction ("1.5s"). "0" alone is allowed. Negative values,
// a missing unit, an unknown unit and values past ~292 years are errors.
Result<Duration> parse_duration(std::string_view text);
// The shortest exact form: 90s -> "1m30s", 100ms -> "100ms", 0 -> "0s".
std::string format_duration(Duration d);

// Sizes in bytes, Docker's rules for memory: a number with an optional fraction and an
// optional unit b, k, m, g, t, p (any case, optionally followed by "b" or "ib"); every unit
// is a power of 1024 ("64M" = 64 MiB, "1.5GiB" = 1536 MiB). A fraction must land on a whole
// number of bytes. Values past 2^63-1 are errors.
Result<uint64_t> parse_size(std::string_view text);
// "64MiB", "1.5GiB", "123B": what a person reads in `gantryctl ps`.
std::string format_size(uint64_t bytes);

}  // namespace gantry
