// Real containers through the library (what the supervisor calls), asserted with the probe.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "runtime/security_steps.h"
#include "runtime/tests/root_fixture.h"

namespace gantry::runtime::testing {
namespace {

using json = nlohmann::json;

class Container_ : public RootTest {};

TEST_F(Container_, IsolatedNamespacesPidAndHostname) {
    json p = probe(base_spec({}));
    ASSERT_TRUE(p.contains("namespaces"));
    for (const char* ns : {"pid", "mnt", "net", "ipc", "uts", "cgroup"}) {
        EXPECT_NE(p["namespaces"][ns], host_ns(ns)) << ns;
    }
    EXPECT_EQ(p["namespaces"]["user"], host_ns("user"));
    EXPECT_EQ(p["pid"], 1);
    EXPECT_EQ(p["hostname"], "gantry");
    // The container's cgroup namespace is rooted at its own cgroup.
    EXPECT_EQ(p["cgroup"].back(), "0::/");
}

TEST_F(Container_, MountsAreTheSpecsAndRootIsReadOnly) {
    json p = probe(base_spec({}), {"--path", "/bin/busybox", "--path", "/dev/null"});
    std::vector<std::string> points;
    for (const auto& line : p["mounts"]) {
        std::string l = line;
        // mountinfo field 5 is the mount point.
        size_t pos = 0;
        for (int i = 0; i < 4; i++) {
            pos = l.find(' ', pos) + 1;
        }
        points.push_back(l.substr(pos, l.find(' ', pos) - pos));
    }
    for (const char* want :
         {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}) {
        EXPECT_NE(std::find(points.begin(), points.end(), want), points.end()) << want;
    }
    // Nothing of the host's mount table is visible.
    for (const auto& pt : points) {
        EXPECT_EQ(pt.find("/tmp/gantry-rt"), std::string::npos) << pt;
    }
    EXPECT_EQ(p["paths"][0]["write_errno"], EROFS);
    EXPECT_EQ(p["paths"][1]["write_errno"], 0);  // /dev/null is a working device
}

TEST_F(Container_, EveryMaskedPathIsHidden) {
    json spec = base_spec({});
    std::vector<std::string> args;
    for (const auto& m : spec["linux"]["maskedPaths"]) {
        args.push_back("--path");
        args.push_back(m);
    }
    json p = probe(spec, args);
    ASSERT_EQ(p["paths"].size(), spec["linux"]["maskedPaths"].size());
    for (const auto& r : p["paths"]) {
        std::string path = r["path"];
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) {
            EXPECT_EQ(r["read_errno"], ENOENT) << path;  // absent on this kernel
            continue;
        }
        EXPECT_EQ(r["read_bytes"], 0) << path << " leaks content";
        if (S_ISDIR(st.st_mode)) {
            EXPECT_NE(r["write_errno"], 0) << path << " is writable";
        } else {
            // Files are covered by /dev/null (runc, crun): writes go nowhere. Check that
            // the path really is a mount point now.
            bool mounted = false;
            for (const auto& line : p["mounts"]) {
                mounted = mounted || std::string(line).find(" " + path + " ") != std::string::npos;
            }
            EXPECT_TRUE(mounted) << path << " is not masked";
        }
    }
}

TEST_F(Container_, EveryReadonlyPathIsReadOnly) {
    json spec = base_spec({});
    std::vector<std::string> args;
    for (const auto& m : spec["linux"]["readonlyPaths"]) {
        args.push_back("--path");
        args.push_back(std::string(m) == "/proc/sys" ? "/proc/sys/kernel/hostname" : m);
    }
    json p = probe(spec, args);
    for (const auto& r : p["paths"]) {
        std::string path = r["path"];
        if (r["read_errno"] == ENOENT) {
            continue;
        }
        // Directories cannot be opened for writing at all; files must say EROFS.
        int w = r["write_errno"];
        EXPECT_TRUE(w == EROFS || w == EISDIR) << path << " write_errno=" << w;
    }
    bool seen_sys = false;
    for (const auto& line : p["mounts"]) {
        std::string l = line;
        if (l.find(" /proc/sys ro,") != std::string::npos) {
            seen_sys = true;
        }
    }
    EXPECT_TRUE(seen_sys);
}

TEST_F(Container_, NoHostFdLeaksIn) {
    // Deliberately without O_CLOEXEC: close_range in the child must catch it anyway.
    int leak = ::open("/etc/hostname", O_RDONLY);
    ASSERT_GE(leak, 0);
    json p = probe(base_spec({}));
    ::close(leak);
    std::vector<std::string> fds;
    for (const auto& [k, v] : p["fds"].items()) {
        fds.push_back(k);
    }
    EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << p["fds"].dump();
}

TEST_F(Container_, UserGroupsUmaskRlimitsEnvCwd) {
    json spec = base_spec({});
    spec["process"]["user"] = {
        {"uid", 1000}, {"gid", 1001}, {"additionalGids", {5, 6}}, {"umask", 027}};
    spec["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 100}, {"hard", 200}}};
    spec["process"]["env"].push_back("FOO=bar");
    spec["process"]["cwd"] = "/data";
    spec["process"]["oomScoreAdj"] = 500;
    spec["process"].erase("capabilities");  // a non-root user with no caps either way
    json p = probe(spec);
    expect_probe_settings(p);  // no effective caps: uid != 0, the kernel drops them
    EXPECT_EQ(p["no_new_privs"], "1");
}

TEST_F(Container_, PathLookupUsesTheContainersPath) {
    json spec = base_spec({"probe"});
    spec["process"]["env"] = {"PATH=/nowhere:/bin"};
    auto r = run(spec);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_TRUE(r->status.success());
    EXPECT_NE(r->out.find("\"pid\":1"), std::string::npos);
}

TEST_F(Container_, CwdThroughAMagicLinkIsRefused) {
    // /proc/self/cwd would be the host's cwd if followed (runc CVE-2024-21626's shape).
    json spec = base_spec({"/bin/true"});
    spec["process"]["cwd"] = "/proc/self/cwd";
    auto r = run(spec);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("enter process.cwd (it leads outside the rootfs)"),
              std::string::npos)
        << r.error().str();
}

TEST_F(Container_, CwdSymlinkStaysInsideTheRootfs) {
    ASSERT_EQ(::symlink("../../../../../../..", (rootfs_ + "/up").c_str()), 0);
    json spec = base_spec({});
    spec["process"]["cwd"] = "/up";
    json p = probe(spec);
    EXPECT_EQ(p["cwd"], "/");  // ".." stops at the container's root
}

TEST_F(Container_, SymlinkEscapeInMountDestinationIsRefused) {
    std::string host_target = dir_ + "/host-side";
    ASSERT_EQ(::mkdir(host_target.c_str(), 0755), 0);
    ASSERT_EQ(::symlink(host_target.c_str(), (rootfs_ + "/evil").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../../../../../tmp", (rootfs_ + "/evil2").c_str()), 0);
    for (const char* dest : {"/evil/x", "/evil2/x"}) {
        json spec = base_spec({"/bin/true"});
        spec["mounts"].push_back({{"destination", dest}, {"type", "tmpfs"}, {"source", "tmpfs"}});
        auto r = run(spec);
        ASSERT_FALSE(r) << dest;
        EXPECT_NE(r.error().str().find("leads outside the rootfs"), std::string::npos)
            << r.error().str();
    }
    struct stat st;
    EXPECT_NE(::stat((host_target + "/x").c_str(), &st), 0) << "created on the host side";
    EXPECT_NE(::stat("/tmp/x", &st), 0);
}

TEST_F(Container_, BindMountReadOnly) {
    std::string vol = dir_ + "/vol";
    ASSERT_EQ(::mkdir(vol.c_str(), 0755), 0);
    { Fd f = *Fd::open(vol + "/file", O_WRONLY | O_CREAT, 0644); }
    json spec = base_spec({});
    spec["mounts"].push_back({{"destination", "/data/vol"},
                              {"type", "bind"},
                              {"source", vol},
                              {"options", {"rbind", "ro"}}});
    json p = probe(spec, {"--path", "/data/vol/file"});
    EXPECT_EQ(p["paths"][0]["read_errno"], 0);
    EXPECT_EQ(p["paths"][0]["write_errno"], EROFS);
}

TEST_F(Container_, SysctlIsWrittenInTheContainersNetns) {
    json spec = base_spec({"cat", "/proc/sys/net/ipv4/ip_forward"});
    spec["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    auto r = run(spec);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->out, "1\n");
}

TEST_F(Container_, UserNamespaceWithMappings) {
    // The image must belong to the mapped root, as with podman's chown'd layers: root in
    // the namespace has no power over files of an unmapped owner.
    ASSERT_EQ(std::system(fmt::format("chown -R -h 200000:200000 {}", rootfs_).c_str()), 0);
    json spec = base_spec({});
    spec["linux"]["namespaces"].push_back({{"type", "user"}});
    spec["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    spec["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    json p = probe(spec);
    EXPECT_NE(p["namespaces"]["user"], host_ns("user"));
    EXPECT_EQ(p["uid"], 0);
    EXPECT_EQ(p["pid"], 1);
}

TEST_F(Container_, ExecFailureIsReportedByStart) {
    json j = base_spec({"/no/such/program"});
    Spec spec = *parse_spec_json(j);
    spec.root.path = rootfs_;
    ContainerOptions o;
    o.id = id();
    o.bundle = bundle_;
    auto c = Container::create(spec, o);
    ASSERT_TRUE(c) << c.error().str();
    auto s = c->start();
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().str().find("execve process.args[0]: No such file or directory"),
              std::string::npos)
        << s.error().str();
}

TEST_F(Container_, LifecycleStartTwiceExecKill) {
    json j = base_spec({"sleep", "60"});
    Spec spec = *parse_spec_json(j);
    spec.root.path = rootfs_;
    ContainerOptions o;
    o.id = id();
    o.bundle = bundle_;
    auto c = Container::create(spec, o);
    ASSERT_TRUE(c) << c.error().str();
    ASSERT_TRUE(c->start());
    auto again = c->start();
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().str().find("already started"), std::string::npos);

    // exec: a health check joins every namespace of the running container.
    auto out = *make_pipe();
    Process proc = spec.process;
    proc.args = {"/bin/probe"};
    ExecOptions eo;
    eo.stdout_fd = out.write.get();
    auto pfd = c->exec(proc, eo);
    ASSERT_TRUE(pfd) << pfd.error().str();
    out.write.reset();
    json p = json::parse(read_pipe_all(out.read.get()), nullptr, false);
    ASSERT_FALSE(p.is_discarded());
    EXPECT_TRUE(pfd->wait()->success());
    std::string init_pidns = fmt::format("/proc/{}/ns/pid", c->pid());
    char link[128];
    ssize_t n = ::readlink(init_pidns.c_str(), link, sizeof link - 1);
    ASSERT_GT(n, 0);
    EXPECT_EQ(p["namespaces"]["pid"], std::string(link, static_cast<size_t>(n)));
    EXPECT_EQ(p["pid"], 2);  // the second process of the container's pid namespace
    EXPECT_EQ(p["hostname"], "gantry");

    ASSERT_TRUE(c->kill(SIGKILL));
    auto st = c->wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->kind, ExitStatus::Kind::Killed);
    EXPECT_TRUE(c->destroy());
}

TEST_F(Container_, JoinsNamespacesByPath) {
    Spec a = *parse_spec_json(base_spec({"sleep", "60"}));
    a.root.path = rootfs_;
    ContainerOptions o;
    o.id = id("a");
    o.bundle = bundle_;
    auto first = Container::create(a, o);
    ASSERT_TRUE(first) << first.error().str();
    ASSERT_TRUE(first->start());
    json spec = base_spec({});
    for (auto& ns : spec["linux"]["namespaces"]) {
        if (ns["type"] == "network" || ns["type"] == "ipc") {
            std::string name = ns["type"] == "network" ? "net" : "ipc";
            ns["path"] = fmt::format("/proc/{}/ns/{}", first->pid(), name);
        }
    }
    json p = probe(spec);
    auto link = [&](const char* name) {
        char buf[128];
        std::string path = fmt::format("/proc/{}/ns/{}", first->pid(), name);
        ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
        return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
    };
    EXPECT_EQ(p["namespaces"]["net"], link("net"));
    EXPECT_EQ(p["namespaces"]["ipc"], link("ipc"));
    EXPECT_NE(p["namespaces"]["pid"], link("pid"));
    EXPECT_TRUE(first->destroy());
}

TEST_F(Container_, ResourceLimitWithoutUsableCgroupIsAClearError) {
    json spec = base_spec({"/bin/true"});
    spec["linux"]["resources"] = {{"pids", {{"limit", 16}}}};
    auto r = run(spec);
    ASSERT_FALSE(r) << "this host has no usable cgroup v2; a limit must not be silently dropped";
    EXPECT_NE(r.error().str().find("linux.resources"), std::string::npos) << r.error().str();
}

// The default profile end to end: Docker's 14 caps, no_new_privs, the default seccomp
// allowlist in filter mode, and syscalls outside it failing with EPERM.
TEST_F(Container_, CapabilitiesNoNewPrivsAndDefaultSeccomp) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (capabilities, seccomp) is not in this build";
    }
    json spec = base_spec({});
    ASSERT_TRUE(spec["linux"].contains("seccomp")) << "the default spec carries the profile";
    json p = probe(spec, {"--syscall", "mount", "--syscall", "sethostname", "--syscall", "keyctl",
                          "--syscall", "ptrace", "--syscall", "unshare", "--syscall", "reboot",
                          "--syscall", "mknod", "--syscall", "getpid"});
    // Docker's default 14 = 0xa80425fb, in every set a root process uses; none inheritable
    // or ambient.
    EXPECT_EQ(p["cap_eff"], "00000000a80425fb");
    EXPECT_EQ(p["cap_prm"], "00000000a80425fb");
    EXPECT_EQ(p["cap_bnd"], "00000000a80425fb");
    EXPECT_EQ(p["cap_inh"], "0000000000000000");
    EXPECT_EQ(p["cap_amb"], "0000000000000000");
    EXPECT_EQ(p["no_new_privs"], "1");
    EXPECT_EQ(p["seccomp"], "2");
    for (const char* sc : {"mount", "sethostname", "keyctl", "ptrace", "unshare", "reboot"}) {
        EXPECT_EQ(p["syscalls"][sc], EPERM) << sc;
    }
    // CAP_MKNOD is held (Docker parity), the seccomp rule is what refuses a device node.
    EXPECT_EQ(p["syscalls"]["mknod"], EPERM);
    EXPECT_EQ(p["syscalls"]["getpid"], 0);
}

// noNewPrivileges=false: seccomp(2) then needs CAP_SYS_ADMIN, so the child installs the
// filter before the uid switch and the capability drop; for a non-root user too.
TEST_F(Container_, SeccompWithoutNoNewPrivs) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (capabilities, seccomp) is not in this build";
    }
    for (int uid : {0, 1000}) {
        json spec = base_spec({});
        spec["process"]["noNewPrivileges"] = false;
        spec["process"]["user"] = {{"uid", uid}, {"gid", uid}};
        json p = probe(spec, {"--syscall", "keyctl", "--syscall", "getpid"});
        EXPECT_EQ(p["no_new_privs"], "0") << "uid " << uid;
        EXPECT_EQ(p["seccomp"], "2") << "uid " << uid;
        EXPECT_EQ(p["syscalls"]["keyctl"], EPERM) << "uid " << uid;
        EXPECT_EQ(p["cap_eff"], uid == 0 ? "00000000a80425fb" : "0000000000000000")
            << "uid " << uid;
        EXPECT_EQ(p["cap_bnd"], "00000000a80425fb") << "uid " << uid;
    }
}

// The filter is compiled once per profile in the parent, not per container.
TEST_F(Container_, SeccompIsCompiledOncePerProfile) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (capabilities, seccomp) is not in this build";
    }
    json spec = base_spec({"/bin/true"});
    spec["linux"]["seccomp"]["comment"] = "unique to " + id();  // a profile no test used yet
    ASSERT_TRUE(run(spec));
    uint64_t after_first = seccomp_compilations();
    ASSERT_TRUE(run(spec));
    ASSERT_TRUE(run(spec));
    EXPECT_EQ(seccomp_compilations(), after_first);
}

TEST_F(Container_, SeccompFilterDeniesListedSyscalls) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (capabilities, seccomp) is not in this build";
    }
    json spec = base_spec({});
    spec["linux"]["seccomp"] = {
        {"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls",
         {{{"names", {"keyctl", "personality"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
    json p =
        probe(spec, {"--syscall", "keyctl", "--syscall", "personality", "--syscall", "getpid"});
    EXPECT_EQ(p["seccomp"], "2");
    EXPECT_EQ(p["syscalls"]["keyctl"], EPERM);
    EXPECT_EQ(p["syscalls"]["personality"], EPERM);
    EXPECT_EQ(p["syscalls"]["getpid"], 0);
}

}  // namespace
}  // namespace gantry::runtime::testing
