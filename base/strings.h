// Small string helpers used across parts. Keep this file boring.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gantry {

std::vector<std::string> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// `v` as a JSON string literal, quotes included ("a\"b"), control characters escaped.
std::string json_quote(std::string_view v);

// Levenshtein distance, for "did you mean" hints.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` if it is close enough to be a likely typo (distance at
// most a third of the word's length, at least 1), else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace gantry
