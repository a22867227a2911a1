// Linux capabilities for a container process: the OCI "process.capabilities" object parsed
// into five bit masks, and the allocation-free step that applies them in the child.
//
// Ordering rules for the container child (the core's numbered steps call these in order):
//   1. prctl(PR_SET_KEEPCAPS, 1)           — only needed when the target uid is not 0: without
//                                            it setresuid() to a non-zero uid empties the
//                                            permitted set and apply_capabilities() could not
//                                            raise anything any more.
//   2. setgroups / setresgid / setresuid   — the uid/gid switch (needs CAP_SETUID/CAP_SETGID,
//                                            which is why it comes before the drop).
//   3. apply_capabilities(caps)            — re-raises effective from permitted (setuid cleared
//                                            it), drops the bounding set (needs CAP_SETPCAP in
//                                            effective, which is why effective is raised first),
//                                            capset(2)s inheritable/permitted/effective, raises
//                                            ambient, and resets KEEPCAPS to 0.
//   4. prctl(PR_SET_NO_NEW_PRIVS, 1), install_seccomp(), close fds, execve.
// What survives execve: for a non-root uid the new permitted and effective sets are exactly
// the ambient set (no file capabilities in a sane image), so a non-root service that needs a
// capability must list it in ambient (and inheritable and permitted, as the kernel requires).
// For uid 0 the kernel recomputes permitted = bounding on exec (the "root gets everything"
// rule), so the bounding set is the real limit — unless no_new_privs is set, in which case
// the new permitted set is also intersected with the old one (cap_bprm_creds_from_file).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/capability_names.h"
#include "base/error.h"

namespace gantry::runtime {

struct CapSets {
    uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
    bool operator==(const CapSets&) const = default;
};

// The highest capability number this build knows by name: base/capability_names.h.
using gantry::kLastKnownCap;

// Parses the OCI "process.capabilities" object. Absent sets are empty; null is all empty.
// Errors name the JSON path, e.g.
//   process.capabilities.bounding[2]: unknown capability "CAP_SYS_ADMN" (did you mean
//   "CAP_SYS_ADMIN"?)
Result<CapSets> parse_capabilities(const nlohmann::json& j, std::string_view path);

// "CAP_CHOWN", ... for every bit set in `mask`, lowest bit first. Bits with no known name
// come out as "CAP_<number>" so nothing is silently hidden in a comparison.
std::vector<std::string> capability_names(uint64_t mask);
// The number of a name such as "CAP_NET_ADMIN", or -1.
int capability_number(std::string_view name);
// All 64-bit masks of a /proc/<pid>/status "CapXxx:" hex field.
Result<uint64_t> parse_cap_mask_hex(std::string_view hex);

// Applies `caps` to the calling thread; see the ordering rules at the top of this file.
// Capabilities the running kernel does not know (above /proc/sys/kernel/cap_last_cap) are
// ignored, as runc does, so one profile works on older kernels.
// Allocation-free and async-signal-safe (raw syscalls only): returns 0 or -errno.
// `supported`: kernel_capabilities(), probed beforehand in the parent; 0 probes here (one
// prctl per capability, ~41, in every container child).
int apply_capabilities(const CapSets& caps, uint64_t supported = 0) noexcept;

// The capabilities the running kernel knows (PR_CAPBSET_READ succeeds up to cap_last_cap),
// as a mask; probed once per process.
uint64_t kernel_capabilities() noexcept;

}  // namespace gantry::runtime
