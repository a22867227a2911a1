// Small helpers shared by the runtime benchmarks (runtime_bench.cc, exec_bench.cc).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace gantry::bench {

// The p-th percentile (0..1) of `v`, nearest rank; 0 for no samples.
inline double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

inline double now_ms() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace gantry::bench
