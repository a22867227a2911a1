#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "runtime/capabilities.h"
#include "runtime/seccomp.h"

namespace gantry::runtime {
namespace {

using nlohmann::json;

std::vector<std::string> strings(const json& j) {
    return j.get<std::vector<std::string>>();
}

TEST(DefaultProfile, CapabilitiesAreDockersFourteen) {
    const json& caps = default_profile().at("capabilities");
    std::set<std::string> docker = {
        "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
        "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL",    "CAP_AUDIT_WRITE"};
    for (const char* set : {"bounding", "effective", "permitted"}) {
        auto list = strings(caps.at(set));
        EXPECT_EQ(std::set<std::string>(list.begin(), list.end()), docker) << set;
        EXPECT_EQ(list.size(), 14U);
    }
    EXPECT_TRUE(caps.at("inheritable").empty());
    EXPECT_TRUE(caps.at("ambient").empty());
    auto parsed = parse_capabilities(caps, "default.capabilities");
    ASSERT_TRUE(parsed) << parsed.error().str();
    EXPECT_EQ(capability_names(parsed->bounding).size(), 14U);
}

TEST(DefaultProfile, MaskedAndReadonlyPaths) {
    EXPECT_EQ(strings(default_profile().at("maskedPaths")),
              (std::vector<std::string>{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                        "/proc/latency_stats", "/proc/timer_list",
                                        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                        "/sys/firmware", "/sys/devices/virtual/powercap"}));
    EXPECT_EQ(strings(default_profile().at("readonlyPaths")),
              (std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                        "/proc/sysrq-trigger"}));
}

TEST(DefaultProfile, DevicesAndNamespacesInOciShape) {
    std::vector<std::string> paths;
    for (const auto& d : default_profile().at("devices")) {
        paths.push_back(d.at("path"));
        EXPECT_EQ(d.at("type"), "c");
        EXPECT_FALSE(d.contains("reason"));
        EXPECT_EQ(d.at("fileMode"), 0666);
    }
    EXPECT_EQ(paths, (std::vector<std::string>{"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                               "/dev/urandom", "/dev/tty"}));
    const json& rules = default_profile().at("deviceCgroup");
    EXPECT_EQ(rules.at(0), (json{{"allow", false}, {"access", "rwm"}}));  // deny all first
    std::vector<std::string> ns;
    for (const auto& n : default_profile().at("namespaces")) {
        ns.push_back(n.at("type"));
    }
    EXPECT_EQ(ns, (std::vector<std::string>{"pid", "mount", "network", "uts", "ipc", "cgroup"}));
}

TEST(DefaultProfile, EveryChoiceCarriesAReason) {
    const json& a = default_profile_annotated();
    for (const char* key : {"capabilities", "maskedPaths", "readonlyPaths", "devices",
                            "deviceCgroup", "namespaces"}) {
        for (const auto& entry : a.at(key)) {
            EXPECT_GT(entry.value("reason", "").size(), 5U) << key << ": " << entry.dump();
        }
    }
    for (const auto& group : default_seccomp_profile().at("syscalls")) {
        EXPECT_GT(group.value("comment", "").size(), 5U) << group.dump();
    }
}

TEST(DefaultSeccomp, DenyByDefaultWithEpermAndNoDangerousAllow) {
    const json& p = default_seccomp_profile();
    EXPECT_EQ(p.at("defaultAction"), "SCMP_ACT_ERRNO");
    EXPECT_EQ(p.at("defaultErrnoRet"), 1);  // EPERM
    std::set<std::string> allowed;
    std::set<std::string> unconditional;
    for (const auto& group : p.at("syscalls")) {
        if (group.at("action") != "SCMP_ACT_ALLOW") {
            continue;
        }
        for (const auto& n : group.at("names")) {
            allowed.insert(n);
            if (!group.contains("args")) {
                EXPECT_TRUE(unconditional.insert(n).second) << "listed twice: " << n;
            }
        }
    }
    for (const char* bad : {"keyctl",
                            "add_key",
                            "request_key",
                            "ptrace",
                            "process_vm_readv",
                            "process_vm_writev",
                            "mount",
                            "umount2",
                            "pivot_root",
                            "move_mount",
                            "fsopen",
                            "fsmount",
                            "open_tree",
                            "unshare",
                            "setns",
                            "bpf",
                            "perf_event_open",
                            "userfaultfd",
                            "io_uring_setup",
                            "io_uring_enter",
                            "kexec_load",
                            "kexec_file_load",
                            "init_module",
                            "finit_module",
                            "delete_module",
                            "reboot",
                            "swapon",
                            "swapoff",
                            "acct",
                            "quotactl",
                            "clock_settime",
                            "settimeofday",
                            "adjtimex",
                            "iopl",
                            "ioperm",
                            "modify_ldt",
                            "open_by_handle_at",
                            "pidfd_getfd",
                            "kcmp",
                            "syslog",
                            "sethostname",
                            "setdomainname",
                            "clone3"}) {
        EXPECT_EQ(allowed.count(bad), 0U) << bad << " must not be allowed";
    }
    // Conditional only: namespace flags, device nodes, personality flags.
    for (const char* cond : {"clone", "mknod", "mknodat", "personality"}) {
        EXPECT_EQ(allowed.count(cond), 1U) << cond;
        EXPECT_EQ(unconditional.count(cond), 0U) << cond << " must carry argument conditions";
    }
    for (const char* needed : {"read", "write", "openat", "execve", "close_range", "futex",
                               "epoll_wait", "socket", "mmap", "exit_group", "rt_sigreturn"}) {
        EXPECT_EQ(unconditional.count(needed), 1U) << needed;
    }
}

}  // namespace
}  // namespace gantry::runtime
