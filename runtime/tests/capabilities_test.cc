#include "runtime/capabilities.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::runtime {
namespace {

using nlohmann::json;

uint64_t bit(int cap) {
    return uint64_t{1} << cap;
}

TEST(Capabilities, ParsesEverySet) {
    json j = {{"bounding", {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}},
              {"effective", {"CAP_KILL"}},
              {"inheritable", {"CAP_NET_BIND_SERVICE"}},
              {"permitted", {"CAP_KILL", "CAP_NET_BIND_SERVICE"}},
              {"ambient", {"CAP_NET_BIND_SERVICE"}}};
    auto caps = parse_capabilities(j, "process.capabilities");
    ASSERT_TRUE(caps) << caps.error().str();
    EXPECT_EQ(caps->bounding, bit(CAP_CHOWN) | bit(CAP_KILL) | bit(CAP_NET_BIND_SERVICE));
    EXPECT_EQ(caps->effective, bit(CAP_KILL));
    EXPECT_EQ(caps->inheritable, bit(CAP_NET_BIND_SERVICE));
    EXPECT_EQ(caps->permitted, bit(CAP_KILL) | bit(CAP_NET_BIND_SERVICE));
    EXPECT_EQ(caps->ambient, bit(CAP_NET_BIND_SERVICE));
}

TEST(Capabilities, NullAndMissingSetsAreEmpty) {
    auto none = parse_capabilities(json(nullptr), "process.capabilities");
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, CapSets{});
    auto some = parse_capabilities(
        json{{"bounding", {"CAP_BPF", "CAP_CHECKPOINT_RESTORE"}}, {"ambient", nullptr}}, "p");
    ASSERT_TRUE(some);
    EXPECT_EQ(some->bounding, bit(CAP_BPF) | bit(CAP_CHECKPOINT_RESTORE));
    EXPECT_EQ(some->effective | some->inheritable | some->permitted | some->ambient, 0U);
}

TEST(Capabilities, TypoErrorNamesPathAndSuggests) {
    json j = {{"bounding", {"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMN"}}};
    auto caps = parse_capabilities(j, "process.capabilities");
    ASSERT_FALSE(caps);
    EXPECT_EQ(caps.error().str(),
              "process.capabilities.bounding[2]: unknown capability \"CAP_SYS_ADMN\" "
              "(did you mean \"CAP_SYS_ADMIN\"?)");
}

TEST(Capabilities, DockerStyleSpellingsGetTheOciName) {
    auto a = parse_capabilities(json{{"effective", {"SYS_ADMIN"}}}, "caps");
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().str(),
              "caps.effective[0]: unknown capability \"SYS_ADMIN\" (did you mean "
              "\"CAP_SYS_ADMIN\"?)");
    auto b = parse_capabilities(json{{"ambient", {"cap_chown"}}}, "caps");
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().str().find("did you mean \"CAP_CHOWN\""), std::string::npos);
    auto c = parse_capabilities(json{{"permitted", {"CAP_FLY"}}}, "caps");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().str(), "caps.permitted[0]: unknown capability \"CAP_FLY\"");
}

TEST(Capabilities, ShapeErrors) {
    auto set = parse_capabilities(json{{"boundng", json::array()}}, "p.caps");
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().str(),
              "p.caps.boundng: unknown capability set (expected bounding, effective, inheritable, "
              "permitted or ambient) (did you mean \"bounding\"?)");
    auto arr = parse_capabilities(json{{"effective", "CAP_KILL"}}, "p.caps");
    ASSERT_FALSE(arr);
    EXPECT_EQ(arr.error().str(), "p.caps.effective: must be an array of capability names");
    auto item = parse_capabilities(json{{"inheritable", {"CAP_KILL", 5}}}, "p.caps");
    ASSERT_FALSE(item);
    EXPECT_EQ(item.error().str(), "p.caps.inheritable[1]: must be a string such as \"CAP_CHOWN\"");
    EXPECT_FALSE(parse_capabilities(json::array(), "p.caps"));
}

TEST(Capabilities, NamesRoundTrip) {
    EXPECT_EQ(capability_names(bit(CAP_CHOWN) | bit(CAP_SYS_ADMIN)),
              (std::vector<std::string>{"CAP_CHOWN", "CAP_SYS_ADMIN"}));
    EXPECT_EQ(capability_names(bit(50)), (std::vector<std::string>{"CAP_50"}));
    for (int cap = 0; cap <= kLastKnownCap; ++cap) {
        EXPECT_EQ(capability_number(capability_names(bit(cap)).at(0)), cap);
    }
    EXPECT_EQ(capability_number("CAP_NOPE"), -1);
}

TEST(Capabilities, ParsesProcStatusMasks) {
    EXPECT_EQ(*parse_cap_mask_hex("000001ffffffffff\n"), (uint64_t{1} << 41) - 1);
    EXPECT_EQ(*parse_cap_mask_hex("00000000a80425fb"), 0xa80425fbULL);
    EXPECT_FALSE(parse_cap_mask_hex("xyz"));
    EXPECT_FALSE(parse_cap_mask_hex(""));
}

// ---- apply, in a forked child (needs root) ----

struct StatusCaps {
    uint64_t inh = 0, prm = 0, eff = 0, bnd = 0, amb = 0;
};

StatusCaps parse_status(const std::string& text) {
    StatusCaps s;
    for (const auto& line : split(text, '\n')) {
        auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string key = line.substr(0, colon);
        uint64_t* field = key == "CapInh"   ? &s.inh
                          : key == "CapPrm" ? &s.prm
                          : key == "CapEff" ? &s.eff
                          : key == "CapBnd" ? &s.bnd
                          : key == "CapAmb" ? &s.amb
                                            : nullptr;
        if (field != nullptr) {
            *field = parse_cap_mask_hex(line.substr(colon + 1)).value_or(~0ULL);
        }
    }
    return s;
}

// Runs `child` in a fork; it returns the text to hand back (or "ERR ..."); exits 0.
std::string in_child(const std::function<std::string()>& child) {
    auto pipe = make_pipe();
    EXPECT_TRUE(pipe);
    pid_t pid = fork();
    if (pid == 0) {
        pipe->read.reset();
        std::string out = child();
        (void)write_all(pipe->write.get(), out);
        _exit(0);
    }
    pipe->write.reset();
    std::string out = read_all(pipe->read.get()).value_or("ERR read");
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return out;
}

bool can_apply() {
    if (geteuid() != 0) {
        return false;
    }
    auto s = parse_status(read_file("/proc/self/status").value_or(""));
    return (s.eff & bit(CAP_SETPCAP)) && (s.eff & bit(CAP_SETUID)) && (s.eff & bit(CAP_SETGID));
}

CapSets docker_defaults() {
    json names = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                  "CAP_KILL",    "CAP_AUDIT_WRITE"};
    json j = {{"bounding", names},
              {"effective", names},
              {"permitted", names},
              {"inheritable", {"CAP_NET_BIND_SERVICE"}},
              {"ambient", {"CAP_NET_BIND_SERVICE"}}};
    return *parse_capabilities(j, "caps");
}

TEST(ApplyCapabilities, AsRootSetsAllFiveSets) {
    if (!can_apply()) {
        GTEST_SKIP() << "needs root with CAP_SETPCAP/CAP_SETUID/CAP_SETGID";
    }
    CapSets want = docker_defaults();
    std::string out = in_child([&] {
        int r = apply_capabilities(want);
        if (r != 0) {
            return fmt::format("ERR apply {}", r);
        }
        return read_file("/proc/self/status").value_or("ERR status");
    });
    ASSERT_FALSE(out.starts_with("ERR")) << out;
    StatusCaps got = parse_status(out);
    EXPECT_EQ(got.bnd, want.bounding);
    EXPECT_EQ(got.eff, want.effective);
    EXPECT_EQ(got.prm, want.permitted);
    EXPECT_EQ(got.inh, want.inheritable);
    EXPECT_EQ(got.amb, want.ambient);
}

TEST(ApplyCapabilities, AfterUidSwitchOnlyAmbientSurvivesExec) {
    if (!can_apply()) {
        GTEST_SKIP() << "needs root with CAP_SETPCAP/CAP_SETUID/CAP_SETGID";
    }
    CapSets want = docker_defaults();
    std::string out = in_child([&]() -> std::string {
        // The documented order: KEEPCAPS, uid/gid switch, then apply.
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, nullptr) < 0 ||
            setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
            return fmt::format("ERR switch {}", errno);
        }
        int r = apply_capabilities(want);
        if (r != 0) {
            return fmt::format("ERR apply {}", r);
        }
        std::string before = read_file("/proc/self/status").value_or("ERR status");
        auto p = make_pipe();
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p->write.get(), 1);
            execl("/bin/cat", "cat", "/proc/self/status", nullptr);
            _exit(127);
        }
        p->write.reset();
        std::string after = read_all(p->read.get()).value_or("ERR exec");
        waitpid(pid, nullptr, 0);
        return before + "\n=====\n" + after;
    });
    ASSERT_FALSE(out.starts_with("ERR")) << out;
    auto sep = out.find("=====");
    ASSERT_NE(sep, std::string::npos);
    StatusCaps before = parse_status(out.substr(0, sep));
    StatusCaps after = parse_status(out.substr(sep));
    EXPECT_EQ(before.eff, want.effective);
    EXPECT_EQ(before.prm, want.permitted);
    EXPECT_EQ(before.bnd, want.bounding);
    EXPECT_EQ(before.amb, want.ambient);
    // Non-root after execve: permitted = effective = ambient; bounding stays.
    EXPECT_EQ(after.prm, want.ambient);
    EXPECT_EQ(after.eff, want.ambient);
    EXPECT_EQ(after.amb, want.ambient);
    EXPECT_EQ(after.inh, want.inheritable);
    EXPECT_EQ(after.bnd, want.bounding);
}

TEST(ApplyCapabilities, EffectiveOutsidePermittedIsEperm) {
    if (!can_apply()) {
        GTEST_SKIP() << "needs root with CAP_SETPCAP/CAP_SETUID/CAP_SETGID";
    }
    CapSets bad;
    bad.bounding = bit(CAP_KILL) | bit(CAP_CHOWN);
    bad.permitted = bit(CAP_KILL);
    bad.effective = bit(CAP_KILL) | bit(CAP_CHOWN);
    std::string out = in_child([&] { return fmt::to_string(apply_capabilities(bad)); });
    EXPECT_EQ(out, fmt::to_string(-EPERM));
}

TEST(ApplyCapabilities, AmbientNeedsInheritable) {
    if (!can_apply()) {
        GTEST_SKIP() << "needs root with CAP_SETPCAP/CAP_SETUID/CAP_SETGID";
    }
    CapSets bad;
    bad.bounding = bad.permitted = bad.effective = bit(CAP_KILL);
    bad.ambient = bit(CAP_KILL);  // not inheritable: the kernel refuses
    std::string out = in_child([&] { return fmt::to_string(apply_capabilities(bad)); });
    EXPECT_EQ(out, fmt::to_string(-EPERM));
}

}  // namespace
}  // namespace gantry::runtime
