// Container::exec (health checks, `gantryctl exec`) on both of its paths: the spawn path
// (exec_spawn.h) and the forking one (ExecOptions::force_fork, its fallback). Each property
// the exec'd process must have is asserted with the probe.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "base/fd.h"
#include "base/strings.h"
#include "runtime/exec_spawn.h"
#include "runtime/security_steps.h"
#include "runtime/tests/root_fixture.h"

namespace gantry::runtime::testing {
namespace {

using json = nlohmann::json;

std::string ns_link(pid_t pid, const char* name) {
    char buf[128];
    std::string path = fmt::format("/proc/{}/ns/{}", pid, name);
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

size_t open_fd_count() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        n++;
    }
    return n;
}

class Exec : public RootTest, public ::testing::WithParamInterface<bool> {
  protected:
    // A running `sleep` container, in a real cgroup where this host has a cgroup2 mount.
    void start(json spec = json()) {
        if (spec.is_null()) {
            spec = base_spec({"sleep", "60"});
        }
        spec_ = *parse_spec_json(spec);
        spec_.root.path = rootfs_;
        ContainerOptions o;
        o.id = id();
        std::replace(o.id.begin(), o.id.end(), '/', '-');  // the parameterised test's name
        o.bundle = bundle_;
        if (::access("/sys/fs/cgroup/unified/cgroup.controllers", R_OK) == 0) {
            o.cgroup_root = "/sys/fs/cgroup/unified";  // this host's hybrid cgroup2
        }
        auto c = Container::create(spec_, o);
        ASSERT_TRUE(c) << c.error().str();
        c_.emplace(std::move(*c));
        ASSERT_TRUE(c_->start());
    }
    void TearDown() override {
        if (c_) {
            (void)c_->destroy();
        }
        RootTest::TearDown();
    }
    ExecOptions options(int out_fd = -1) const {
        ExecOptions eo;
        eo.stdout_fd = out_fd;
        eo.force_fork = GetParam();
        return eo;
    }
    // Execs the probe with `proc` (args replaced) and parses what it prints.
    json probe(Process proc, std::vector<std::string> probe_args = {}) {
        proc.args = {"/bin/probe"};
        proc.args.insert(proc.args.end(), probe_args.begin(), probe_args.end());
        auto out = *make_pipe();
        auto pfd = c_->exec(proc, options(out.write.get()));
        EXPECT_TRUE(pfd) << pfd.error().str();
        if (!pfd) {
            return json();
        }
        out.write.reset();
        json p = json::parse(read_pipe_all(out.read.get()), nullptr, false);
        auto st = pfd->wait();
        EXPECT_TRUE(st && st->success());
        return p;
    }

    // The only child left is the container's init, alive: nothing unreaped.
    static void expect_no_zombie() {
        siginfo_t info;
        ::memset(&info, 0, sizeof info);
        ASSERT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT), 0);
        EXPECT_EQ(info.si_pid, 0) << "a zombie: pid " << info.si_pid;
    }

    Spec spec_;
    std::optional<Container> c_;
};

TEST_P(Exec, JoinsEveryNamespaceAndTheCgroup) {
    ASSERT_NO_FATAL_FAILURE(start());
    json p = probe(spec_.process);
    ASSERT_TRUE(p.is_object());
    for (const char* ns : {"pid", "mnt", "net", "ipc", "uts", "cgroup", "user"}) {
        EXPECT_EQ(p["namespaces"][ns], ns_link(c_->pid(), ns)) << ns;
    }
    EXPECT_EQ(p["hostname"], "gantry");
    EXPECT_EQ(p["cgroup"].back(), "0::/");  // inside the container's cgroup namespace
    EXPECT_GE(p["pid"], 2);

    // A long-running one: seen from here it is in the container's cgroup, and the PidFd
    // kills and reaps it.
    Process sleeper = spec_.process;
    sleeper.args = {"sleep", "60"};
    auto pfd = c_->exec(sleeper, options());
    ASSERT_TRUE(pfd) << pfd.error().str();
    if (!c_->cgroup_path().empty()) {
        auto procs = read_file(c_->cgroup_path() + "/cgroup.procs");
        ASSERT_TRUE(procs);
        EXPECT_NE(procs->find(std::to_string(pfd->pid()) + "\n"), std::string::npos) << *procs;
        std::string rel = c_->cgroup_path().substr(c_->cgroup_path().find("/gantry"));
        auto cg = read_file(fmt::format("/proc/{}/cgroup", pfd->pid()));
        ASSERT_TRUE(cg);
        EXPECT_NE(cg->find("0::" + rel), std::string::npos) << *cg;
    } else {
        ADD_FAILURE() << "no cgroup2 on this host: the cgroup join is not checked";
    }
    EXPECT_EQ(ns_link(pfd->pid(), "pid"), ns_link(c_->pid(), "pid"));
    ASSERT_TRUE(pfd->send_signal(SIGKILL));
    auto st = pfd->wait();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->kind, ExitStatus::Kind::Killed);
}

TEST_P(Exec, HasTheContainersCapabilitiesAndSeccomp) {
    if (!security_built()) {
        GTEST_SKIP() << "the security part (capabilities, seccomp) is not in this build";
    }
    ASSERT_NO_FATAL_FAILURE(start());
    json p = probe(spec_.process,
                   {"--syscall", "keyctl", "--syscall", "unshare", "--syscall", "getpid"});
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(p["cap_eff"], "00000000a80425fb");
    EXPECT_EQ(p["cap_bnd"], "00000000a80425fb");
    EXPECT_EQ(p["cap_amb"], "0000000000000000");
    EXPECT_EQ(p["no_new_privs"], "1");
    EXPECT_EQ(p["seccomp"], "2");
    EXPECT_EQ(p["syscalls"]["keyctl"], EPERM);
    EXPECT_EQ(p["syscalls"]["unshare"], EPERM);
    EXPECT_EQ(p["syscalls"]["getpid"], 0);
}

TEST_P(Exec, ProcessSettingsOfItsOwn) {
    ASSERT_NO_FATAL_FAILURE(start());
    Process proc = spec_.process;
    proc.user.uid = 1000;
    proc.user.gid = 1001;
    proc.user.additional_gids = {5, 6};
    proc.user.umask = 027;
    proc.rlimits = {{RLIMIT_NOFILE, "RLIMIT_NOFILE", 100, 200}};
    proc.env.push_back("FOO=bar");
    proc.cwd = "/data";
    proc.oom_score_adj = 500;
    proc.capabilities = nullptr;  // not the container's: prepared for this exec
    proc.no_new_privileges = true;
    json p = probe(proc);
    expect_probe_settings(p);
    // The caller's own oom_score_adj and dumpability are untouched (the spawn path shares
    // its mm with the process until execve).
    auto adj = read_file("/proc/self/oom_score_adj");
    ASSERT_TRUE(adj);
    EXPECT_NE(trim(*adj), "500");
    EXPECT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}

TEST_P(Exec, MissingBinaryIsAClearErrorAndLeavesNoZombie) {
    ASSERT_NO_FATAL_FAILURE(start());
    Process proc = spec_.process;
    proc.args = {"/no/such/program"};
    auto pfd = c_->exec(proc, options());
    ASSERT_FALSE(pfd);
    EXPECT_NE(pfd.error().str().find("execve process.args[0]: No such file or directory"),
              std::string::npos)
        << pfd.error().str();
    expect_no_zombie();
    // And the container still takes execs.
    json p = probe(spec_.process);
    EXPECT_TRUE(p.is_object());
}

TEST_P(Exec, NoFdLeaksAndSignalsReset) {
    ASSERT_NO_FATAL_FAILURE(start());
    // What a supervisor has: an fd without O_CLOEXEC, a blocked and an ignored signal.
    int leak = ::open("/etc/hostname", O_RDONLY);
    ASSERT_GE(leak, 0);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ASSERT_EQ(::sigprocmask(SIG_BLOCK, &usr1, &old), 0);
    struct sigaction ign, old_usr2;
    ::memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    ASSERT_EQ(::sigaction(SIGUSR2, &ign, &old_usr2), 0);

    probe(spec_.process);  // warm: the first exec opens what the container keeps
    size_t before = open_fd_count();
    json p = probe(spec_.process);
    size_t after = open_fd_count();
    sigset_t now;
    ::sigprocmask(SIG_SETMASK, nullptr, &now);
    bool still_blocked = sigismember(&now, SIGUSR1) == 1;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::sigaction(SIGUSR2, &old_usr2, nullptr);
    ::close(leak);

    ASSERT_TRUE(p.is_object());
    std::vector<std::string> fds;
    for (const auto& [k, v] : p["fds"].items()) {
        fds.push_back(k);
    }
    EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << p["fds"].dump();
    EXPECT_EQ(p["sig_blk"], "0000000000000000");
    EXPECT_EQ(p["sig_ign"], "0000000000000000");
    EXPECT_EQ(after, before) << "fds leaked in the caller";
    EXPECT_TRUE(still_blocked) << "the caller's signal mask was not restored";
}

TEST_P(Exec, DeadInitIsAnError) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(c_->kill(SIGKILL));
    ASSERT_TRUE(c_->wait());
    auto pfd = c_->exec(spec_.process, options());
    ASSERT_FALSE(pfd);
}

// A process stopped before its execve (by a container process, or a frozen cgroup) must
// not hang the caller, PID 1: the exec gives up after kExecSetupTimeout, kills what it
// started and leaves no zombie; the container still takes execs.
TEST_P(Exec, StoppedBeforeExecveTimesOut) {
    ASSERT_NO_FATAL_FAILURE(start());
    ExecOptions eo = options();
    eo.stop_before_execve = true;
    auto t0 = std::chrono::steady_clock::now();
    auto pfd = c_->exec(spec_.process, eo);
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(pfd);
    EXPECT_NE(pfd.error().str().find("did not reach execve within 5s"), std::string::npos)
        << pfd.error().str();
    EXPECT_GE(took, kExecSetupTimeout);
    EXPECT_LT(took, kExecSetupTimeout + std::chrono::seconds(3));
    expect_no_zombie();
    json p = probe(spec_.process);
    EXPECT_TRUE(p.is_object());
}

INSTANTIATE_TEST_SUITE_P(Paths, Exec, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                             return i.param ? std::string("Forking") : std::string("Spawn");
                         });

// A container with its own user namespace takes the forking path (exec_spawn.h says why);
// the exec is still correct.
class ExecUserNs : public Exec {};

TEST_P(ExecUserNs, JoinsTheUserNamespace) {
    ASSERT_EQ(std::system(fmt::format("chown -R -h 200000:200000 {}", rootfs_).c_str()), 0);
    json spec = base_spec({"sleep", "60"});
    spec["linux"]["namespaces"].push_back({{"type", "user"}});
    spec["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    spec["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    ASSERT_NO_FATAL_FAILURE(start(spec));
    json p = probe(spec_.process);
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(p["namespaces"]["user"], ns_link(c_->pid(), "user"));
    EXPECT_EQ(p["namespaces"]["pid"], ns_link(c_->pid(), "pid"));
    EXPECT_EQ(p["uid"], 0);
}

INSTANTIATE_TEST_SUITE_P(Paths, ExecUserNs, ::testing::Values(false));

}  // namespace
}  // namespace gantry::runtime::testing
