// SeccompSpec -> BPF with libseccomp. Runs once per profile in the runtime (never in the
// container child), so it may allocate, log and take its time.
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <set>

#include "base/fd.h"
#include "base/log.h"
#include "base/strings.h"
#include "runtime/seccomp.h"

namespace gantry::runtime {
namespace {

// Syscalls added since Linux 5.1. From 5.1 on (syscall 424) every new syscall has the same
// number on every architecture we build for (x86_64, aarch64; also x86, arm, riscv, ppc,
// s390 — not alpha, mips or ia64), so when the libseccomp of the build host is older than
// the kernel we can still name them by number. Without this a deny-by-default profile turns
// e.g. fchmodat2 into EPERM on a new kernel, and glibc only falls back on ENOSYS.
struct RecentSyscall {
    std::string_view name;
    int nr;
    bool x86_64_only = false;
};
constexpr std::array<RecentSyscall, 47> kRecentSyscalls = {{
    // Linux 6.11, x86_64 only: the kernel's uretprobe trampoline calls it inside the traced
    // process, so denying it crashes any service someone attaches a uretprobe to.
    {"uretprobe", 335, true},
    {"pidfd_send_signal", 424},
    {"io_uring_setup", 425},
    {"io_uring_enter", 426},
    {"io_uring_register", 427},
    {"open_tree", 428},
    {"move_mount", 429},
    {"fsopen", 430},
    {"fsconfig", 431},
    {"fsmount", 432},
    {"fspick", 433},
    {"pidfd_open", 434},
    {"clone3", 435},
    {"close_range", 436},
    {"openat2", 437},
    {"pidfd_getfd", 438},
    {"faccessat2", 439},
    {"process_madvise", 440},
    {"epoll_pwait2", 441},
    {"mount_setattr", 442},
    {"quotactl_fd", 443},
    {"landlock_create_ruleset", 444},
    {"landlock_add_rule", 445},
    {"landlock_restrict_self", 446},
    {"memfd_secret", 447},
    {"process_mrelease", 448},
    {"futex_waitv", 449},
    {"set_mempolicy_home_node", 450},
    {"cachestat", 451},
    {"fchmodat2", 452},
    {"map_shadow_stack", 453},
    {"futex_wake", 454},
    {"futex_wait", 455},
    {"futex_requeue", 456},
    {"statmount", 457},
    {"listmount", 458},
    {"lsm_get_self_attr", 459},
    {"lsm_set_self_attr", 460},
    {"lsm_list_modules", 461},
    {"mseal", 462},
    {"setxattrat", 463},
    {"getxattrat", 464},
    {"listxattrat", 465},
    {"removexattrat", 466},
    {"open_tree_attr", 467},
    {"file_getattr", 468},
    {"file_setattr", 469},
}};

const RecentSyscall* recent_syscall(std::string_view name) {
    for (const auto& s : kRecentSyscalls) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

// Every name this libseccomp knows on the native arch (real numbers and its negative
// pseudo-numbers for syscalls that exist elsewhere), for "did you mean".
const std::vector<std::string>& known_syscall_names() {
    static const std::vector<std::string> names = [] {
        std::set<std::string> out;
        uint32_t arch = seccomp_arch_native();
        auto add = [&](int nr) {
            char* n = seccomp_syscall_resolve_num_arch(arch, nr);
            if (n != nullptr) {
                out.insert(n);
                free(n);  // NOLINT: libseccomp hands out malloc'd strings
            }
        };
        for (int nr = 0; nr < 1024; ++nr) {
            add(nr);
        }
        // libseccomp's pseudo syscall numbers (__PNR_*) start at -10001.
        for (int nr = -10001; nr > -10400; --nr) {
            add(nr);
        }
        for (const auto& s : kRecentSyscalls) {
            out.insert(std::string(s.name));
        }
        return std::vector<std::string>(out.begin(), out.end());
    }();
    return names;
}

scmp_compare to_scmp(SeccompOp op) {
    switch (op) {
        case SeccompOp::NotEqual:
            return SCMP_CMP_NE;
        case SeccompOp::LessThan:
            return SCMP_CMP_LT;
        case SeccompOp::LessEqual:
            return SCMP_CMP_LE;
        case SeccompOp::Equal:
            return SCMP_CMP_EQ;
        case SeccompOp::GreaterEqual:
            return SCMP_CMP_GE;
        case SeccompOp::GreaterThan:
            return SCMP_CMP_GT;
        case SeccompOp::MaskedEqual:
            return SCMP_CMP_MASKED_EQ;
    }
    return SCMP_CMP_EQ;
}

struct CtxDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// Adds one rule for syscall `nr`. Conditions on distinct arguments are ANDed in one rule;
// several conditions on the same argument become one rule each (ORed), which is what runc
// does and what profiles such as Docker's personality() entries rely on.
Status add_rule(scmp_filter_ctx ctx, const SeccompRule& rule, std::string_view name, int nr) {
    bool distinct = true;
    unsigned seen = 0;
    for (const auto& a : rule.args) {
        distinct = distinct && (seen & (1U << a.index)) == 0;
        seen |= 1U << a.index;
    }
    auto cmp = [](const SeccompArg& a) {
        return scmp_arg_cmp{a.index, to_scmp(a.op), a.value, a.value_two};
    };
    std::vector<std::vector<scmp_arg_cmp>> groups;
    if (distinct) {
        std::vector<scmp_arg_cmp> all;
        for (const auto& a : rule.args) {
            all.push_back(cmp(a));
        }
        groups.push_back(std::move(all));
    } else {
        for (const auto& a : rule.args) {
            groups.push_back({cmp(a)});
        }
    }
    for (const auto& g : groups) {
        int r =
            seccomp_rule_add_array(ctx, rule.action, nr, static_cast<unsigned>(g.size()), g.data());
        if (r < 0) {
            return fail(Error::with_errno(
                -r, fmt::format("{}: libseccomp refused the rule for \"{}\"", rule.path, name)));
        }
    }
    return ok();
}

Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx) {
    // seccomp_export_bpf_mem() only exists from libseccomp 2.6; a memfd works everywhere.
    int raw = memfd_create("gantry-seccomp", MFD_CLOEXEC);
    if (raw < 0) {
        return fail(Error::sys("memfd_create"));
    }
    Fd fd(raw);
    int r = seccomp_export_bpf(ctx, fd.get());
    if (r < 0) {
        return fail(Error::with_errno(-r, "seccomp_export_bpf"));
    }
    struct stat st {};
    if (fstat(fd.get(), &st) < 0) {
        return fail(Error::sys("fstat seccomp memfd"));
    }
    if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0) {
        return fail(
            Error::msg("seccomp_export_bpf wrote {} bytes, not whole instructions", st.st_size));
    }
    std::vector<sock_filter> prog(static_cast<size_t>(st.st_size) / sizeof(sock_filter));
    ssize_t n = pread(fd.get(), prog.data(), static_cast<size_t>(st.st_size), 0);
    if (n != st.st_size) {
        return fail(Error::sys("read back seccomp program"));
    }
    if (prog.size() > BPF_MAXINSNS) {
        return fail(Error::msg("seccomp program has {} instructions, the kernel allows {}",
                               prog.size(), BPF_MAXINSNS));
    }
    return prog;
}

}  // namespace

Result<std::shared_ptr<const SeccompProgram>> compile_seccomp_spec(const SeccompSpec& spec) {
    Ctx ctx(seccomp_init(spec.default_action));
    if (!ctx) {
        return fail(Error::msg("seccomp_init: libseccomp refused default action {:#x}",
                               spec.default_action));
    }
    // Binary-tree dispatch: a few hundred allowed syscalls cost ~9 comparisons instead of
    // ~300 on every syscall the service makes. Older libseccomp lacks it; fine.
    (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    // no_new_privs is the runtime's own step (prctl), not a side effect of loading.
    (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);

    // Can syscalls unknown to this libseccomp be named by number? Only if every arch in the
    // filter numbers them the same (>= 424: x86_64 and aarch64 do), or for x86_64-only
    // syscalls, if the filter is x86_64 only.
    uint32_t native = seccomp_arch_native();
    bool only_common_numbering = native == SCMP_ARCH_X86_64 || native == SCMP_ARCH_AARCH64;
    bool only_x86_64 = native == SCMP_ARCH_X86_64;
    for (const auto& name : spec.architectures) {
        uint32_t token = seccomp_arch_resolve_name(name.c_str());
        if (token == 0) {
            return fail(
                Error::msg("architecture \"{}\" is not supported by this libseccomp", name));
        }
        only_common_numbering =
            only_common_numbering && (token == SCMP_ARCH_X86_64 || token == SCMP_ARCH_AARCH64);
        only_x86_64 = only_x86_64 && token == SCMP_ARCH_X86_64;
        int r = seccomp_arch_add(ctx.get(), token);
        if (r < 0 && r != -EEXIST) {  // the native arch is always present already
            return fail(Error::with_errno(-r, fmt::format("seccomp_arch_add {}", name)));
        }
    }

    auto prog = std::make_shared<SeccompProgram>();
    prog->flags = spec.flags;
    for (const auto& rule : spec.rules) {
        // libseccomp rejects a rule whose action is the default one; it is a no-op anyway.
        if (rule.action == spec.default_action) {
            continue;
        }
        for (size_t i = 0; i < rule.names.size(); ++i) {
            const std::string& name = rule.names[i];
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) {
                const RecentSyscall* recent = recent_syscall(name);
                if (recent != nullptr &&
                    (recent->x86_64_only ? only_x86_64 : only_common_numbering)) {
                    nr = recent->nr;
                    prog->added_by_number.push_back(name);
                } else if (recent != nullptr) {
                    prog->skipped.push_back(name);
                    log::warn("seccomp: syscall unknown to this libseccomp, rule skipped",
                              {{"syscall", name}, {"at", rule.path}});
                    continue;
                } else {
                    std::string hint = closest_match(name, known_syscall_names());
                    if (!hint.empty()) {
                        return fail(
                            Error::msg("{}.names[{}]: unknown syscall \"{}\" (did you "
                                       "mean \"{}\"?)",
                                       rule.path, i, name, hint));
                    }
                    // Like runc: a name this libseccomp has never heard of may be a syscall
                    // newer than it; skipping keeps one profile usable across hosts.
                    prog->skipped.push_back(name);
                    log::warn("seccomp: unknown syscall, rule skipped",
                              {{"syscall", name}, {"at", rule.path}});
                    continue;
                }
            }
            GANTRY_TRY(add_rule(ctx.get(), rule, name, nr));
        }
    }
    prog->filter = GANTRY_TRY(export_bpf(ctx.get()));
    return std::shared_ptr<const SeccompProgram>(std::move(prog));
}

}  // namespace gantry::runtime
