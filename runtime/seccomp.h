// Seccomp for containers: the OCI "linux.seccomp" object, parsed with JSON-path errors,
// compiled ONCE with libseccomp into a classic-BPF program, and installed in each container
// child with a raw seccomp(2) call (no allocation, no library code after clone).
//
// Ordering rule in the child: install_seccomp() needs no_new_privs or CAP_SYS_ADMIN. The
// normal order is apply_capabilities() -> prctl(PR_SET_NO_NEW_PRIVS) -> install_seccomp() ->
// close fds -> execve, so the filter is in force for the service and only `close_range` and
// `execve` run under it in the runtime's own code (the default profile allows both). A spec
// with noNewPrivileges=false must install the filter BEFORE apply_capabilities() drops
// CAP_SYS_ADMIN, and then the filter must also allow capset, prctl and the setuid family
// (the default profile does).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::runtime {

// One argument condition of a rule: libseccomp's scmp_arg_cmp, spelled our way.
enum class SeccompOp {
    NotEqual,
    LessThan,
    LessEqual,
    Equal,
    GreaterEqual,
    GreaterThan,
    MaskedEqual
};

struct SeccompArg {
    unsigned index = 0;  // 0..5
    uint64_t value = 0;
    uint64_t value_two = 0;  // for MaskedEqual: value is the mask, value_two the expected value
    SeccompOp op = SeccompOp::Equal;
};

struct SeccompRule {
    std::vector<std::string> names;
    uint32_t action = 0;  // a SECCOMP_RET_* value, errno/trace data included
    std::vector<SeccompArg> args;
    std::string path;  // JSON path of this entry, for compile-time errors
};

// The parsed, validated linux.seccomp: pure data, unit-testable without libseccomp.
struct SeccompSpec {
    uint32_t default_action = 0;
    std::vector<std::string> architectures;  // libseccomp names: "x86_64", "aarch64", ...
    unsigned flags = 0;                      // SECCOMP_FILTER_FLAG_*
    std::vector<SeccompRule> rules;
};

// The compiled filter, shared by every container that uses the same profile.
struct SeccompProgram {
    std::vector<sock_filter> filter;
    unsigned flags = 0;
    // Syscall names the spec listed that this libseccomp cannot resolve and that were left
    // out (runc does the same), plus those added by number from our own table.
    std::vector<std::string> skipped;
    std::vector<std::string> added_by_number;
};

// Parses OCI linux.seccomp. Errors name the JSON path, e.g.
//   linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_ERNO" (did you mean
//   "SCMP_ACT_ERRNO"?)
Result<SeccompSpec> parse_seccomp(const nlohmann::json& linux_seccomp, std::string_view path);

// Compiles a parsed spec into BPF with libseccomp (binary-tree optimised). Syscall names:
// known to libseccomp -> used; unknown to this libseccomp but in our table of syscalls added
// since Linux 5.1 -> added by number (same number on every arch we build for); a likely typo
// of a known name -> error with "did you mean"; anything else -> skipped with a warning.
Result<std::shared_ptr<const SeccompProgram>> compile_seccomp_spec(const SeccompSpec& spec);

// parse_seccomp + compile_seccomp_spec.
Result<std::shared_ptr<const SeccompProgram>> compile_seccomp(const nlohmann::json& linux_seccomp,
                                                              std::string_view path);

// seccomp(SECCOMP_SET_MODE_FILTER, prog.flags, ...) as a raw syscall. Allocation-free and
// async-signal-safe. Returns 0 or -errno; with SECCOMP_FILTER_FLAG_TSYNC, a thread that
// could not be synchronised is reported as -EAGAIN.
int install_seccomp(const SeccompProgram& prog) noexcept;

// On-disk cache of compiled programs (seccomp_cache.cc; gantry-oci keeps it under --root).
// The key is the profile's JSON text plus the libseccomp version and native arch; a file is
// used only if it holds exactly that key. The "skipped"/"added_by_number" notes are not
// stored: they were logged when the entry was compiled.
std::string seccomp_cache_key(const nlohmann::json& linux_seccomp);
std::string seccomp_cache_file(const std::string& dir, std::string_view key);
Result<std::shared_ptr<const SeccompProgram>> load_seccomp_program(const std::string& path,
                                                                   std::string_view key);
Status store_seccomp_program(const std::string& path, std::string_view key,
                             const SeccompProgram& prog);
// The bytes store_seccomp_program writes (for an OS image that ships the file).
std::string serialize_seccomp_program(std::string_view key, const SeccompProgram& prog);

// The default profile, as OCI JSON embedded at build time from runtime/profile/.
// default_seccomp_profile(): an OCI linux.seccomp object (entries carry a "comment").
const nlohmann::json& default_seccomp_profile();
// {capabilities (OCI process.capabilities), maskedPaths, readonlyPaths, devices (OCI
// linux.devices), deviceCgroup (OCI linux.resources.devices), namespaces (OCI
// linux.namespaces)} in OCI shape, without the per-entry reasons; see docs/container-profile.md.
const nlohmann::json& default_profile();
// The same data with a "reason" on every entry, as written in runtime/profile/.
const nlohmann::json& default_profile_annotated();

}  // namespace gantry::runtime
