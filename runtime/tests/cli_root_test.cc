// gantry-oci end to end: the OCI runtime CLI's lifecycle and its error behaviour (duplicate
// id, unknown id, start twice, delete while running: fail, and change nothing).
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/security_steps.h"
#include "runtime/tests/root_fixture.h"

namespace gantry::runtime::testing {
namespace {

using json = nlohmann::json;

class Cli : public RootTest {
  protected:
    struct Out {
        int code = -1;
        std::string out, err;
    };

    // Runs gantry-oci with --root in the temp dir; stdin is /dev/null.
    Out oci(const std::vector<std::string>& args) {
        std::string cmd = fmt::format("cd {} && {} --root {}/state", bundle_, GANTRY_OCI_BIN, dir_);
        for (const auto& a : args) {
            cmd += " '" + a + "'";
        }
        cmd += fmt::format(" </dev/null >{0}/out 2>{0}/err", dir_);
        int st = std::system(cmd.c_str());
        Out o;
        o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        o.out = slurp(dir_ + "/out");
        o.err = slurp(dir_ + "/err");
        return o;
    }

    static std::string slurp(const std::string& p) {
        std::ifstream in(p);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    std::string status(const std::string& cid) {
        Out o = oci({"state", cid});
        if (o.code != 0) {
            return "error: " + o.err;
        }
        return json::parse(o.out)["status"];
    }

    // A created container running `sleep 60` once started.
    void make_sleeper() { write_config(base_spec({"sleep", "60"})); }
};

TEST_F(Cli, SpecWritesAConfigThatRuns) {
    ASSERT_EQ(::unlink((bundle_ + "/config.json").c_str()), -1);
    Out o = oci({"spec"});
    ASSERT_EQ(o.code, 0) << o.err;
    Out again = oci({"spec"});
    EXPECT_NE(again.code, 0);
    EXPECT_NE(again.err.find("already exists"), std::string::npos);
    json j = json::parse(slurp(bundle_ + "/config.json"));
    // A masked file this kernel has (kcore, for one, depends on the config).
    std::string masked;
    for (const auto& m : j["linux"]["maskedPaths"]) {
        struct stat st;
        if (masked.empty() && ::stat(std::string(m).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            masked = m;
        }
    }
    ASSERT_FALSE(masked.empty());
    // Only the command changes: everything else is what `spec` wrote.
    j["process"]["args"] = {
        "/bin/probe", "--syscall", "mount",     "--syscall", "keyctl",
        "--syscall",  "ptrace",    "--syscall", "unshare",   "--syscall",
        "getpid",     "--path",    masked,      "--path",    "/proc/sys/kernel/hostname"};
    write_config(j);
    Out r = oci({"run", id()});
    ASSERT_EQ(r.code, 0) << r.err;
    json p = json::parse(r.out);
    EXPECT_EQ(p["pid"], 1);
    EXPECT_EQ(p["hostname"], "gantry");
    EXPECT_NE(p["namespaces"]["pid"], host_ns("pid"));
    EXPECT_NE(p["namespaces"]["net"], host_ns("net"));
    EXPECT_NE(p["namespaces"]["mnt"], host_ns("mnt"));
    ASSERT_EQ(p["paths"].size(), 2u);
    EXPECT_EQ(p["paths"][0]["read_errno"], 0) << masked;
    EXPECT_EQ(p["paths"][0]["read_bytes"], 0) << masked << " is masked";
    EXPECT_EQ(p["paths"][1]["write_errno"], EROFS) << "/proc/sys is read-only";
    if (security_built()) {
        ASSERT_TRUE(j["linux"].contains("seccomp")) << "spec writes the default seccomp profile";
        EXPECT_EQ(p["cap_eff"], "00000000a80425fb");
        EXPECT_EQ(p["cap_prm"], "00000000a80425fb");
        EXPECT_EQ(p["cap_bnd"], "00000000a80425fb");
        EXPECT_EQ(p["cap_inh"], "0000000000000000");
        EXPECT_EQ(p["cap_amb"], "0000000000000000");
        EXPECT_EQ(p["no_new_privs"], "1");
        EXPECT_EQ(p["seccomp"], "2");
        for (const char* sc : {"mount", "keyctl", "ptrace", "unshare"}) {
            EXPECT_EQ(p["syscalls"][sc], EPERM) << sc;
        }
        EXPECT_EQ(p["syscalls"]["getpid"], 0);
    }
    // run cleans up after itself.
    EXPECT_EQ(oci({"list"}).out.find(id()), std::string::npos);
}

TEST_F(Cli, RunExitsWithTheContainersStatus) {
    write_config(base_spec({"sh", "-c", "exit 7"}));
    EXPECT_EQ(oci({"run", id()}).code, 7);
    // (A signal from inside cannot kill the pid namespace's init: the kernel ignores it.)
    write_config(base_spec({"false"}));
    EXPECT_EQ(oci({"run", id("b")}).code, 1);
}

TEST_F(Cli, FullLifecycle) {
    make_sleeper();
    std::string cid = id();
    Out c = oci({"create", "--pid-file", dir_ + "/pid", cid});
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(status(cid), "created");
    json st = json::parse(oci({"state", cid}).out);
    EXPECT_EQ(st["ociVersion"], "1.0.2");
    EXPECT_EQ(st["id"], cid);
    EXPECT_EQ(st["bundle"], bundle_);
    EXPECT_EQ(std::to_string(st["pid"].get<int>()), slurp(dir_ + "/pid"));
    EXPECT_NE(oci({"list"}).out.find(cid), std::string::npos);

    ASSERT_EQ(oci({"start", cid}).code, 0);
    EXPECT_EQ(status(cid), "running");

    Out e = oci({"exec", cid, "hostname"});
    EXPECT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.out, "gantry\n");
    EXPECT_EQ(oci({"exec", cid, "sh", "-c", "exit 3"}).code, 3);

    ASSERT_EQ(oci({"kill", cid, "KILL"}).code, 0);
    for (int i = 0; i < 100 && status(cid) != "stopped"; i++) {
        ::usleep(10000);
    }
    EXPECT_EQ(status(cid), "stopped");
    Out k = oci({"kill", cid});
    EXPECT_NE(k.code, 0);
    EXPECT_NE(k.err.find("is stopped"), std::string::npos) << k.err;
    ASSERT_EQ(oci({"delete", cid}).code, 0);
    Out gone = oci({"state", cid});
    EXPECT_NE(gone.code, 0);
    EXPECT_NE(gone.err.find("does not exist"), std::string::npos);
}

TEST_F(Cli, DuplicateIdFailsAndLeavesTheFirstAlone) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    json before = json::parse(oci({"state", cid}).out);
    Out dup = oci({"create", cid});
    EXPECT_NE(dup.code, 0);
    EXPECT_NE(dup.err.find("container \"" + cid + "\" already exists"), std::string::npos)
        << dup.err;
    json after = json::parse(oci({"state", cid}).out);
    EXPECT_EQ(before, after);
    EXPECT_EQ(oci({"delete", "--force", cid}).code, 0);
}

TEST_F(Cli, UnknownIdFailsForEveryCommand) {
    for (const char* cmd : {"start", "state", "kill", "delete", "exec"}) {
        std::vector<std::string> args = {cmd, "no-such-container"};
        if (std::string(cmd) == "exec") {
            args.push_back("true");
        }
        Out o = oci(args);
        EXPECT_NE(o.code, 0) << cmd;
        EXPECT_NE(o.err.find("container \"no-such-container\" does not exist"), std::string::npos)
            << cmd << ": " << o.err;
    }
}

TEST_F(Cli, StartTwiceFails) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    ASSERT_EQ(oci({"start", cid}).code, 0);
    Out again = oci({"start", cid});
    EXPECT_NE(again.code, 0);
    EXPECT_NE(again.err.find("not created"), std::string::npos) << again.err;
    EXPECT_EQ(status(cid), "running");
    EXPECT_EQ(oci({"delete", "--force", cid}).code, 0);
}

TEST_F(Cli, DeleteWhileRunningFailsWithoutSideEffect) {
    make_sleeper();
    std::string cid = id();
    ASSERT_EQ(oci({"create", cid}).code, 0);
    ASSERT_EQ(oci({"start", cid}).code, 0);
    Out d = oci({"delete", cid});
    EXPECT_NE(d.code, 0);
    EXPECT_NE(d.err.find("is running; stop it first or use --force"), std::string::npos) << d.err;
    EXPECT_EQ(status(cid), "running");
    Out f = oci({"delete", "--force", cid});
    EXPECT_EQ(f.code, 0) << f.err;
    EXPECT_NE(oci({"state", cid}).code, 0);
}

TEST_F(Cli, FailedCreateLeavesNoState) {
    json spec = base_spec({"/bin/true"});
    spec["process"]["cwd"] = "/proc/self/cwd";
    write_config(spec);
    Out c = oci({"create", id()});
    EXPECT_NE(c.code, 0);
    EXPECT_NE(c.err.find("process.cwd"), std::string::npos) << c.err;
    EXPECT_NE(oci({"state", id()}).code, 0);
    // The same id is free again.
    make_sleeper();
    EXPECT_EQ(oci({"create", id()}).code, 0);
    EXPECT_EQ(oci({"delete", "--force", id()}).code, 0);
}

TEST_F(Cli, BadConfigNamesTheJsonPath) {
    json spec = base_spec({"/bin/true"});
    spec["process"]["terminal"] = true;
    write_config(spec);
    Out c = oci({"run", id()});
    EXPECT_NE(c.code, 0);
    EXPECT_NE(c.err.find("config.json: process.terminal: true is not supported"), std::string::npos)
        << c.err;
}

// gantry-oci keeps the compiled filter under --root and reuses it; the cache directory is
// not a container.
TEST_F(Cli, SeccompProgramIsCachedUnderRoot) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (seccomp) is not in this build";
    }
    json spec = base_spec({"/bin/true"});
    spec["linux"]["seccomp"]["comment"] = "unique to " + id();
    write_config(spec);
    ASSERT_EQ(oci({"run", id("a")}).code, 0);
    std::string cache = dir_ + "/state/.seccomp-cache";
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(cache)) {
        files += e.path().extension() == ".bpf" ? 1 : 0;
    }
    EXPECT_EQ(files, 1);
    Out second = oci({"run", id("b")});
    EXPECT_EQ(second.code, 0) << second.err;
    Out list = oci({"list"});
    EXPECT_EQ(list.out.find(".seccomp-cache"), std::string::npos) << list.out;
    EXPECT_NE(oci({"create", ".seccomp-cache"}).err.find("reserved"), std::string::npos);
}

// cgroup-report names every controller and says whether this host enforces it.
TEST_F(Cli, CgroupReportListsEveryController) {
    Out o = oci({"cgroup-report"});
    ASSERT_EQ(o.code, 0) << o.err;
    for (const char* c : {"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"}) {
        EXPECT_NE(o.out.find(fmt::format("  {} ", c)), std::string::npos) << c << "\n" << o.out;
    }
}

// A memory limit the host cannot enforce fails at create with what the host has, and leaves
// nothing behind; the same spec without the limit runs.
TEST_F(Cli, MemoryLimitWithoutCgroupV2FailsClearly) {
    Out report = oci({"cgroup-report"});
    ASSERT_EQ(report.code, 0) << report.err;
    if (report.out.find("memory   enforceable") != std::string::npos) {
        GTEST_SKIP() << "this host enforces memory limits (cgroup v2 with memory); QEMU tests "
                        "cover it\n"
                     << report.out;
    }
    json spec = base_spec({"/bin/true"});
    spec["linux"]["resources"] = {{"memory", {{"limit", 64 << 20}}}};
    write_config(spec);
    Out r = oci({"run", id()});
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.err.find("cannot enforce memory limit requested at linux.resources.memory.limit"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("cgroup v2 is not mounted at /sys/fs/cgroup"), std::string::npos) << r.err;
    EXPECT_EQ(oci({"list"}).out.find(id()), std::string::npos);
    spec["linux"].erase("resources");
    write_config(spec);
    EXPECT_EQ(oci({"run", id()}).code, 0);
}

}  // namespace
}  // namespace gantry::runtime::testing
