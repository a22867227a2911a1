// Small helpers shared by the runtime benchmarks (runtime_bench.cc, exec_bench.cc).
#pragma once

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <string>
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

// A fresh temp dir (from `tmpl`, ending in XXXXXX) holding rootfs/bin/busybox (copied from
// the host) and `applets` as links to it. Returns the dir, "" if it could not be made.
inline std::string make_busybox_workdir(std::string tmpl,
                                        std::initializer_list<const char*> applets) {
    if (::mkdtemp(tmpl.data()) == nullptr) {
        return "";
    }
    ::chmod(tmpl.c_str(), 0755);
    std::string rootfs = tmpl + "/rootfs";
    ::mkdir(rootfs.c_str(), 0755);
    ::mkdir((rootfs + "/bin").c_str(), 0755);
    std::string cmd = fmt::format("cp /bin/busybox {}/bin/", rootfs);
    for (const char* a : applets) {
        cmd += fmt::format(" && ln -s busybox {}/bin/{}", rootfs, a);
    }
    return std::system(cmd.c_str()) == 0 ? tmpl : "";
}

}  // namespace gantry::bench
