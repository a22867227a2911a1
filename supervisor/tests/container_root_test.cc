// Root tests of services with images: gantry-init --host-mode on a cloud-config YAML whose
// images gantry-build made (busybox base), run as containers on overlayfs.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/fd.h"
#include "base/strings.h"
#include "supervisor/tests/host_fixture.h"

namespace gantry::supervisor {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::HostInit;

// Runs a command; stdout+stderr and the exit code.
std::pair<int, std::string> run(std::vector<std::string> argv,
                                const std::vector<std::string>& env = {}) {
    int p[2];
    if (pipe(p) != 0) {
        return {-1, ""};
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        for (const auto& e : env) {
            putenv(const_cast<char*>(e.c_str()));
        }
        std::vector<char*> a;
        for (auto& s : argv) {
            a.push_back(s.data());
        }
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    close(p[1]);
    std::string out = read_all(p[0]).value_or("");
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

bool has_overlay() {
    auto fs = read_file("/proc/filesystems");
    return fs && fs->find("overlay") != std::string::npos;
}

// The service's main program: says it is up, marks itself ready for the healthcheck, and
// exits on SIGTERM (as PID 1 of its namespace it gets no default action for TERM).
constexpr const char* kRunScript =
    "#!/bin/sh\necho \"$0 up: $GREETING\"\ntouch /tmp/ready\n"
    "trap 'echo bye; exit 0' TERM\nwhile true; do sleep 1 & wait $!; done\n";

std::string image_spec(const std::string& tag, bool healthcheck) {
    json spec = json::parse(R"({"base": "busybox", "layers": [{"files": []}], "config": {}})");
    spec["tag"] = tag;
    spec["layers"][0]["files"].push_back(
        {{"path", "/app/run"}, {"content", kRunScript}, {"mode", "0755"}});
    spec["config"]["Cmd"] = {"/app/run"};
    spec["config"]["Env"] = {"PATH=/bin:/usr/bin", "GREETING=from-image"};
    if (healthcheck) {
        // Comes from the image; the service does not repeat it.
        spec["config"]["Healthcheck"] = {
            {"Test", {"CMD-SHELL", "test -f /tmp/ready"}}, {"Interval", 200000000}, {"Retries", 2}};
    }
    return spec.dump();
}

class ContainerRoot : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces, overlayfs mounts)";
        }
        if (!has_overlay()) {
            GTEST_SKIP() << "needs overlayfs in the kernel";
        }
        if (access("/bin/busybox", X_OK) != 0) {
            GTEST_SKIP() << "needs busybox (Debian busybox-static; scripts/install-deps)";
        }
        char tmpl[] = "/tmp/gantry_ctrXXXXXX";
        dir_ = mkdtemp(tmpl);
        std::filesystem::create_directories(dir_ + "/state");
        // db comes as an OCI layout path; web is imported into the state dir's store and
        // named by tag.
        build("db", image_spec("1.0", false));
        build("web", image_spec("1.0", true));
        auto [rc, out] = run({GANTRYCTL_BIN, "image", "import", dir_ + "/web-layout", "web:1.0"},
                             {"GANTRY_IMAGE_STORE=" + dir_ + "/state/images"});
        ASSERT_EQ(rc, 0) << out;
    }

    void build(const std::string& name, const std::string& spec) {
        std::string spec_path = dir_ + "/" + name + ".json";
        std::ofstream(spec_path) << spec;
        auto [rc, out] = run({GANTRY_BUILD_BIN, "image", "--spec", spec_path, "--out",
                              dir_ + "/" + name + "-layout"});
        ASSERT_EQ(rc, 0) << out;
    }

    std::string write_config(const std::string& restart) {
        std::string path = dir_ + "/config.yaml";
        std::ofstream(path) << "#cloud-config\nservices:\n"
                            << "  db:\n    image: oci:" << dir_ << "/db-layout:1.0\n"
                            << "    restart: " << restart << "\n    stop_grace_period: 2s\n"
                            << "  web:\n    image: web:1.0\n    restart: always\n"
                            << "    stop_grace_period: 2s\n    environment: {GREETING: hello}\n"
                            << "    depends_on: {db: {condition: service_started}}\n"
                            << "    volumes: [\"" << dir_ << "/data:/data:ro\"]\n"
                            << "    tmpfs: [/scratch]\n";
        std::filesystem::create_directories(dir_ + "/data");
        std::ofstream(dir_ + "/data/hello") << "from the host\n";
        return path;
    }

    std::pair<int, std::string> ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {GANTRYCTL_BIN, "--socket", dir_ + "/state/api.sock"});
        return run(args);
    }

    std::string dir_;
};

TEST_F(ContainerRoot, ImagesRunIsolatedAndSupervised) {
    auto h = HostInit::start_config(dir_, write_config("always"));
    ASSERT_TRUE(h->wait_state("web", "healthy", 20s)) << h->service("web").dump(2);
    ASSERT_TRUE(h->wait_state("db", "running", 5s)) << h->service("db").dump(2);

    auto [rc, ps] = ctl({"ps"});
    EXPECT_EQ(rc, 0) << ps;
    EXPECT_NE(ps.find("healthy"), std::string::npos) << ps;
    // The environment: the service's value over the image's.
    for (int i = 0; i < 50; ++i) {
        if (ctl({"logs", "web"}).second.find("up: hello") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    auto [lrc, logs] = ctl({"logs", "web"});
    EXPECT_NE(logs.find("/app/run up: hello"), std::string::npos) << logs;

    // Isolation: the service is PID 1 of its own pid namespace, with its own hostname.
    auto [erc, cmdline] = ctl({"exec", "web", "--", "cat", "/proc/1/cmdline"});
    EXPECT_EQ(erc, 0) << cmdline;
    EXPECT_NE(cmdline.find("/app/run"), std::string::npos) << cmdline;
    // No host process in the container's pid namespace. One listing can catch the image's
    // healthcheck (every 200 ms) mid-exec: the exec'd process is in the namespace before its
    // execve and until then shows the supervisor's command line. The supervisor itself
    // would be in every listing; a few tries tell the two apart.
    std::string procs;
    for (int i = 0; i < 5; ++i) {
        auto [prc, out] = ctl({"exec", "web", "--", "ps"});
        EXPECT_EQ(prc, 0) << out;
        procs = out;
        if (procs.find("gantry-init") == std::string::npos) {
            break;
        }
    }
    EXPECT_EQ(procs.find("gantry-init"), std::string::npos) << procs;
    auto [hrc, host] = ctl({"exec", "web", "--", "hostname"});
    EXPECT_EQ(trim(host), "web");
    auto [rrc, root] = ctl({"exec", "web", "--", "cat", "/proc/self/mountinfo"});
    EXPECT_NE(root.find(" / / "), std::string::npos) << root;
    EXPECT_NE(root.find("- overlay overlay"), std::string::npos) << root;

    // Its own network namespace with only lo, and lo up (no netd yet).
    EXPECT_EQ(trim(ctl({"exec", "web", "--", "ls", "/sys/class/net"}).second), "lo");
    // IFF_UP is bit 0 of the flags (0x9 = UP | LOOPBACK).
    auto [lorc, lo] = ctl({"exec", "web", "--", "cat", "/sys/class/net/lo/flags"});
    EXPECT_EQ(std::stoul(std::string(trim(lo)), nullptr, 16) & 1, 1u) << lo;

    // A read-only bind volume and a tmpfs.
    auto [vrc, vol] = ctl({"exec", "web", "--", "cat", "/data/hello"});
    EXPECT_EQ(trim(vol), "from the host");
    EXPECT_NE(ctl({"exec", "web", "--", "touch", "/data/x"}).first, 0);
    EXPECT_EQ(ctl({"exec", "web", "--", "touch", "/scratch/x"}).first, 0);

    // A killed service comes back (restart: always, with backoff).
    json before = h->service("web");
    pid_t pid = before.value("pid", 0);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    bool restarted = false;
    for (int i = 0; i < 100 && !restarted; ++i) {
        std::this_thread::sleep_for(100ms);
        json s = h->service("web");
        restarted =
            s.value("restarts", 0) >= 1 && s.value("pid", 0) > 0 && s.value("pid", 0) != pid;
    }
    EXPECT_TRUE(restarted) << h->service("web").dump(2);

    // stop: SIGTERM reaches the script (its trap), well within the grace period.
    auto [src, stop_out] = ctl({"stop", "web"});
    EXPECT_EQ(src, 0) << stop_out;
    ASSERT_TRUE(h->wait_state("web", "exited", 5s)) << h->service("web").dump(2);
    EXPECT_NE(ctl({"logs", "web"}).second.find("bye"), std::string::npos);

    auto [crc, status] = ctl({"config-status"});
    EXPECT_EQ(crc, 0) << status;
    EXPECT_NE(status.find("config.yaml (file)"), std::string::npos) << status;
}

TEST_F(ContainerRoot, RefusedConfigFallsBackToLastGood) {
    std::string config = write_config("always");
    {
        auto h = HostInit::start_config(dir_, config);
        ASSERT_TRUE(h->wait_state("db", "running", 20s)) << h->service("db").dump(2);
        h->terminate();
        h->keep_dir = true;  // the state (last good config, images) is the next run's
    }
    write_config("allways");  // a typo: refused whole
    auto h = HostInit::start_config(dir_, config);
    ASSERT_TRUE(h->wait_state("db", "running", 20s)) << h->init_log();
    auto [rc, out] = ctl({"config-status"});
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("last-good.yaml (last-good)"), std::string::npos) << out;
    EXPECT_NE(out.find("refused:"), std::string::npos) << out;
    EXPECT_NE(out.find("config.yaml:5:"), std::string::npos) << out;
    EXPECT_NE(out.find("allways"), std::string::npos) << out;
    auto j = h->raw_call({{"cmd", "config"}});
    EXPECT_EQ(j["source"]["kind"], "last-good") << j.dump(2);
    EXPECT_EQ(j["services"].size(), 2u);
    EXPECT_NE(h->init_log().find("allways"), std::string::npos);
}

// On a host without a usable cgroup v2 (this build host: v1 + an empty cgroup2), a limit
// cannot be enforced: the service fails at start with the runtime's message, never runs
// unlimited.
TEST_F(ContainerRoot, LimitsWithoutCgroupV2FailClearly) {
    auto mi = read_file("/proc/self/mountinfo");
    if (mi && mi->find(" /sys/fs/cgroup rw") != std::string::npos &&
        mi->find("- cgroup2 ") != std::string::npos &&
        access("/sys/fs/cgroup/cgroup.subtree_control", F_OK) == 0) {
        GTEST_SKIP() << "this host has cgroup v2 at /sys/fs/cgroup; the limit would apply";
    }
    std::string path = dir_ + "/limits.yaml";
    std::ofstream(path) << "services:\n  db:\n    image: oci:" << dir_
                        << "/db-layout:1.0\n    mem_limit: 64M\n";
    auto h = HostInit::start_config(dir_, path);
    ASSERT_TRUE(h->wait_state("db", "failed", 10s)) << h->service("db").dump(2);
    std::string reason = h->service("db").value("reason", "");
    EXPECT_NE(reason.find("linux.resources"), std::string::npos) << reason;
    EXPECT_NE(reason.find("cgroup v2"), std::string::npos) << reason;
    ::testing::Test::RecordProperty("reason", reason);
}

TEST_F(ContainerRoot, NoConfigAtAllStillServesTheApi) {
    std::string bad = dir_ + "/bad.yaml";
    std::ofstream(bad) << "services:\n  web:\n    imag: web:1.0\n";
    auto h = HostInit::start_config(dir_, bad);
    auto j = h->raw_call({{"cmd", "config"}});
    EXPECT_EQ(j["ok"], true) << j.dump(2);
    EXPECT_TRUE(j["source"].is_null());
    EXPECT_TRUE(j["services"].empty());
    EXPECT_NE(j["message"].get<std::string>().find("no services"), std::string::npos);
    EXPECT_FALSE(j["errors"].empty());
    EXPECT_EQ(h->raw_call({{"cmd", "ps"}})["services"].size(), 0u);
}

}  // namespace
}  // namespace gantry::supervisor
