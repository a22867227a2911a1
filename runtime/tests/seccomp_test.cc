#include "runtime/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "runtime/security_steps.h"

namespace gantry::runtime {
namespace {

using nlohmann::json;

json minimal() {
    return json{{"defaultAction", "SCMP_ACT_ERRNO"},
                {"syscalls",
                 json::array({json{{"names", {"read", "write"}}, {"action", "SCMP_ACT_ALLOW"}}})}};
}

std::string parse_error(const json& j) {
    auto r = parse_seccomp(j, "linux.seccomp");
    return r ? std::string("parsed") : r.error().str();
}

TEST(SeccompParse, Minimal) {
    auto spec = parse_seccomp(minimal(), "linux.seccomp");
    ASSERT_TRUE(spec) << spec.error().str();
    EXPECT_EQ(spec->default_action, SECCOMP_RET_ERRNO | EPERM);  // OCI: EPERM by default
    ASSERT_EQ(spec->rules.size(), 1U);
    EXPECT_EQ(spec->rules[0].names, (std::vector<std::string>{"read", "write"}));
    EXPECT_EQ(spec->rules[0].action, SECCOMP_RET_ALLOW);
    EXPECT_EQ(spec->rules[0].path, "linux.seccomp.syscalls[0]");
}

TEST(SeccompParse, EveryField) {
    json j = {{"defaultAction", "SCMP_ACT_ERRNO"},
              {"defaultErrnoRet", 38},
              {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}},
              {"flags",
               {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}},
              {"syscalls",
               {{{"names", {"personality"}},
                 {"action", "SCMP_ACT_TRACE"},
                 {"errnoRet", 7},
                 {"args",
                  {{{"index", 0}, {"value", 255}, {"valueTwo", 8}, {"op", "SCMP_CMP_MASKED_EQ"}}}}},
                {{"names", {"kill"}}, {"action", "SCMP_ACT_KILL_PROCESS"}},
                {{"names", {"dup"}}, {"action", "SCMP_ACT_LOG"}, {"comment", "ignored"}}}}};
    auto spec = parse_seccomp(j, "linux.seccomp");
    ASSERT_TRUE(spec) << spec.error().str();
    EXPECT_EQ(spec->default_action, SECCOMP_RET_ERRNO | 38U);
    EXPECT_EQ(spec->architectures, (std::vector<std::string>{"x86_64", "aarch64"}));
    EXPECT_EQ(spec->flags, unsigned{SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG |
                                    SECCOMP_FILTER_FLAG_SPEC_ALLOW});
    EXPECT_EQ(spec->rules[0].action, SECCOMP_RET_TRACE | 7U);
    ASSERT_EQ(spec->rules[0].args.size(), 1U);
    EXPECT_EQ(spec->rules[0].args[0].op, SeccompOp::MaskedEqual);
    EXPECT_EQ(spec->rules[0].args[0].value, 255U);
    EXPECT_EQ(spec->rules[0].args[0].value_two, 8U);
    EXPECT_EQ(spec->rules[1].action, SECCOMP_RET_KILL_PROCESS);
    EXPECT_EQ(spec->rules[2].action, SECCOMP_RET_LOG);
}

TEST(SeccompParse, ErrorsNameTheJsonPath) {
    json j = minimal();
    j["syscalls"][0]["action"] = "SCMP_ACT_ERNO";
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_ERNO\" (did you mean "
              "\"SCMP_ACT_ERRNO\"?)");

    j = minimal();
    j.erase("defaultAction");
    EXPECT_EQ(parse_error(j), "linux.seccomp.defaultAction: required (e.g. \"SCMP_ACT_ERRNO\")");

    j = minimal();
    j["syscalls"][0]["args"] = {{{"index", 6}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}};
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.syscalls[0].args[0].index: 6 is out of range 0..5 (syscalls take six "
              "arguments)");

    j = minimal();
    j["syscalls"][0]["args"] = {{{"index", 1}, {"value", 1}, {"op", "SCMP_CMP_EQQ"}}};
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_EQQ\" (did you "
              "mean \"SCMP_CMP_EQ\"?)");

    j = minimal();
    j["architectures"] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X8664"};
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_X8664\" (did you "
              "mean \"SCMP_ARCH_X86_64\"?)");

    j = minimal();
    j["flags"] = {"SECCOMP_FILTER_FLAG_TSYNK"};
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_TSYNK\" (did you mean "
              "\"SECCOMP_FILTER_FLAG_TSYNC\"?)");

    j = minimal();
    j["syscalls"][0]["errnoRet"] = 5;
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.syscalls[0].errnoRet: only allowed with SCMP_ACT_ERRNO or "
              "SCMP_ACT_TRACE, not SCMP_ACT_ALLOW");

    j = minimal();
    j["defaultErrnoRet"] = 5000;
    EXPECT_EQ(parse_error(j), "linux.seccomp.defaultErrnoRet: 5000 is out of range 0..4095");

    j = minimal();
    j["syscalls"][0]["names"] = json::array();
    EXPECT_EQ(parse_error(j),
              "linux.seccomp.syscalls[0].names: required, a non-empty array of syscall names");

    j = minimal();
    j["sycalls"] = j["syscalls"];
    EXPECT_EQ(parse_error(j), "linux.seccomp.sycalls: unknown field (did you mean \"syscalls\"?)");

    j = minimal();
    j["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY";
    EXPECT_NE(parse_error(j).find("SCMP_ACT_NOTIFY is not supported"), std::string::npos);
}

TEST(SeccompCompile, TypoInSyscallNameIsAnError) {
    json j = minimal();
    j["syscalls"][0]["names"] = {"read", "gettpid"};
    auto prog = compile_seccomp(j, "linux.seccomp");
    ASSERT_FALSE(prog);
    EXPECT_EQ(prog.error().str(),
              "linux.seccomp.syscalls[0].names[1]: unknown syscall \"gettpid\" (did you mean "
              "\"getpid\"?)");
}

TEST(SeccompCompile, UnknownAndNewSyscallsAreSkippedOrAddedByNumber) {
    json j = minimal();
    j["syscalls"][0]["names"] = {"read", "frobnicate_the_kernel", "fchmodat2"};
    auto prog = compile_seccomp(j, "linux.seccomp");
    ASSERT_TRUE(prog) << prog.error().str();
    EXPECT_EQ((*prog)->skipped, (std::vector<std::string>{"frobnicate_the_kernel"}));
    // fchmodat2 (Linux 6.6) is unknown to libseccomp before 2.6: then added by number.
    bool known = seccomp_syscall_resolve_name("fchmodat2") != __NR_SCMP_ERROR;
    EXPECT_EQ((*prog)->added_by_number.size(), known ? 0U : 1U);
}

TEST(SeccompCompile, DefaultProfileCompilesToAReasonableProgram) {
    auto prog = compile_seccomp(default_seccomp_profile(), "default");
    ASSERT_TRUE(prog) << prog.error().str();
    EXPECT_GT((*prog)->filter.size(), 50U);
    EXPECT_LT((*prog)->filter.size(), 4096U);
    EXPECT_TRUE((*prog)->skipped.empty()) << (*prog)->skipped.front();
}

// ---- install, in a forked child ----

// Runs `child` in a fork with no_new_privs set; returns what it returned, or "ERR ...".
std::string in_child(const std::function<std::string()>& child) {
    auto pipe = make_pipe();
    EXPECT_TRUE(pipe);
    pid_t pid = fork();
    if (pid == 0) {
        pipe->read.reset();
        std::string out = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? child() : "ERR nnp";
        (void)write_all(pipe->write.get(), out);
        _exit(0);
    }
    pipe->write.reset();
    std::string out = read_all(pipe->read.get()).value_or("ERR read");
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    return out;
}

// errno of a raw syscall, or 0 when it succeeded.
#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

TEST(SeccompInstall, DefaultProfileDeniesDangerousAndAllowsNormalSyscalls) {
    auto prog = compile_seccomp(default_seccomp_profile(), "default");
    ASSERT_TRUE(prog) << prog.error().str();
    std::string dir = testing::TempDir() + "/seccomp-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    std::string out = in_child([&]() -> std::string {
        int r = install_seccomp(**prog);
        if (r != 0) {
            return fmt::format("ERR install {}", r);
        }
        std::string s;
        auto probe = [&](const char* name, long result) {
            s += fmt::format("{}={} ", name, result < 0 ? errno : 0);
        };
        // Denied: EPERM.
        probe("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
        probe("add_key", syscall(SYS_add_key, "user", "k", "v", 1, 0));
        probe("ptrace", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
        probe("mount", mount("none", dir.c_str(), "tmpfs", 0, nullptr));
        probe("unshare", unshare(CLONE_NEWUSER));
        probe("bpf", syscall(SYS_bpf, 0, 0, 0));
        probe("clone_newns", syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
        probe("personality_aslr_off", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
        probe("mknod_chr", mknod((dir + "/null").c_str(), S_IFCHR | 0600, makedev(1, 3)));
        // clone3 is ENOSYS so glibc falls back to the filtered clone.
        probe("clone3", syscall(SYS_clone3, nullptr, 0));
        // Allowed.
        probe("getpid", syscall(SYS_getpid));
        probe("personality_query", syscall(SYS_personality, 0xffffffff));
        probe("mkfifo", mkfifo((dir + "/fifo").c_str(), 0600));
        // fchmodat2 (Linux 6.6, number 452) may be unknown to this libseccomp: it is then
        // allowed by number, and must not come back EPERM (glibc only falls back on ENOSYS).
        probe("fchmodat2", syscall(452, AT_FDCWD, (dir + "/fifo").c_str(), 0640, 0));
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        probe("open", fd);
        probe("close", close(fd));
        pid_t pid = fork();  // glibc fork() -> clone without namespace flags
        if (pid == 0) {
            _exit(0);
        }
        probe("fork", pid);
        probe("wait", waitpid(pid, nullptr, 0));
        return s;
    });
    std::filesystem::remove_all(dir);
    EXPECT_EQ(out,
              "keyctl=1 add_key=1 ptrace=1 mount=1 unshare=1 bpf=1 clone_newns=1 "
              "personality_aslr_off=1 mknod_chr=1 clone3=38 getpid=0 personality_query=0 "
              "mkfifo=0 fchmodat2=0 open=0 close=0 fork=0 wait=0 ");
}

TEST(SeccompInstall, ExplicitErrnoRetAndArgumentConditions) {
    json j = {{"defaultAction", "SCMP_ACT_ALLOW"},
              {"flags", {"SECCOMP_FILTER_FLAG_TSYNC"}},
              {"syscalls",
               {{{"names", {"getppid"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 42}},
                {{"names", {"dup"}},
                 {"action", "SCMP_ACT_ERRNO"},
                 {"errnoRet", E2BIG},
                 {"args", {{{"index", 0}, {"value", 1000}, {"op", "SCMP_CMP_EQ"}}}}}}}};
    auto prog = compile_seccomp(j, "linux.seccomp");
    ASSERT_TRUE(prog) << prog.error().str();
    // Compiled once, installed twice: the program is reusable across containers.
    for (int round = 0; round < 2; ++round) {
        std::string out = in_child([&]() -> std::string {
            int r = install_seccomp(**prog);
            if (r != 0) {
                return fmt::format("ERR install {}", r);
            }
            int a = ERRNO_OF(syscall(SYS_getppid));
            int b = ERRNO_OF(syscall(SYS_dup, 1000));
            long c = syscall(SYS_dup, 0);
            return fmt::format("{} {} {}", a, b, c >= 0 ? "ok" : "fail");
        });
        EXPECT_EQ(out, fmt::format("42 {} ok", E2BIG));
    }
}

TEST(SeccompInstall, WithoutNoNewPrivsNeedsCapSysAdmin) {
    auto prog = compile_seccomp(minimal(), "linux.seccomp");
    ASSERT_TRUE(prog);
    auto pipe = make_pipe();
    pid_t pid = fork();
    if (pid == 0) {
        // Drop CAP_SYS_ADMIN from effective, no NNP: the kernel must refuse with EACCES.
        __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2] = {};
        syscall(SYS_capget, &hdr, data);
        data[0].effective &= ~(1U << CAP_SYS_ADMIN);
        syscall(SYS_capset, &hdr, data);
        std::string out = fmt::to_string(install_seccomp(**prog));
        (void)write_all(pipe->write.get(), out);
        _exit(0);
    }
    pipe->write.reset();
    std::string out = read_all(pipe->read.get()).value_or("");
    waitpid(pid, nullptr, 0);
    EXPECT_EQ(out, fmt::to_string(-EACCES));
}

TEST(SeccompDiskCache, RoundTripsAndRefusesAnotherProfile) {
    auto prog = compile_seccomp(default_seccomp_profile(), "linux.seccomp");
    ASSERT_TRUE(prog) << prog.error().str();
    char tmpl[] = "/tmp/gantry-seccomp-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    std::string key = seccomp_cache_key(default_seccomp_profile());
    std::string file = seccomp_cache_file(dir, key);
    ASSERT_TRUE(store_seccomp_program(file, key, **prog));
    auto loaded = load_seccomp_program(file, key);
    ASSERT_TRUE(loaded) << loaded.error().str();
    EXPECT_EQ((*loaded)->flags, (*prog)->flags);
    ASSERT_EQ((*loaded)->filter.size(), (*prog)->filter.size());
    EXPECT_EQ(std::memcmp((*loaded)->filter.data(), (*prog)->filter.data(),
                          (*prog)->filter.size() * sizeof(sock_filter)),
              0);
    // Same file, another key (a hash collision, a libseccomp upgrade): not used.
    json other = minimal();
    auto miss = load_seccomp_program(file, seccomp_cache_key(other));
    EXPECT_FALSE(miss);
    // A truncated file is refused, not half-loaded.
    ASSERT_EQ(truncate(file.c_str(), 100), 0);
    EXPECT_FALSE(load_seccomp_program(file, key));
    std::filesystem::remove_all(dir);
}

// gantry-init's prebuilt programs (an OS image's /usr/lib/gantry/seccomp): a file with the
// profile's key is used instead of compiling; one with another key is not, and the dir is
// never written to.
TEST(SeccompPrebuilt, UsedWhenTheKeyMatchesElseCompiles) {
    json profile = minimal();
    profile["defaultAction"] = "SCMP_ACT_ALLOW";
    profile["syscalls"] = json::array({{{"names", {"getpid"}}, {"action", "SCMP_ACT_ERRNO"}}});
    json other = profile;
    other["syscalls"][0]["names"] = json::array({"getppid"});
    auto prog = compile_seccomp(profile, "linux.seccomp");
    ASSERT_TRUE(prog) << prog.error().str();
    char tmpl[] = "/tmp/gantry-seccomp-prebuilt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    std::string key = seccomp_cache_key(profile);
    ASSERT_TRUE(
        write_file_atomic(seccomp_cache_file(dir, key), serialize_seccomp_program(key, **prog)));
    // `other`'s file name holds `profile`'s program: a wrong key, so it must be compiled.
    ASSERT_TRUE(write_file_atomic(seccomp_cache_file(dir, seccomp_cache_key(other)),
                                  serialize_seccomp_program(key, **prog)));
    set_seccomp_prebuilt_dir(dir);
    uint64_t before = seccomp_compilations();
    auto a = Security::prepare(nullptr, profile);
    ASSERT_TRUE(a) << a.error().str();
    EXPECT_EQ(seccomp_compilations(), before);
    auto b = Security::prepare(nullptr, other);
    ASSERT_TRUE(b) << b.error().str();
    EXPECT_EQ(seccomp_compilations(), before + 1);
    set_seccomp_prebuilt_dir("");
    size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
        ++files;
    }
    EXPECT_EQ(files, 2u);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry::runtime
