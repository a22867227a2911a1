// Root tests of images that are not in the store at boot: gantry-init --host-mode has the
// image helper (gantry-image) pull them from Debian's docker-registry on 127.0.0.1 (images
// pushed there by skopeo from layouts gantry-build made), off its event loop.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
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
using Clock = std::chrono::steady_clock;

int run(const std::vector<std::string>& argv, std::string* out = nullptr) {
    auto p = make_pipe();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p->write.get(), 1);
        ::dup2(p->write.get(), 2);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    p->write.reset();
    auto text = read_all(p->read.get());
    if (out != nullptr) {
        *out = text.value_or("");
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A listening socket on 127.0.0.1 (port 0 = any); the fd and the port.
std::pair<Fd, int> listen_loopback() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd.get(), 16);
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return {std::move(fd), ntohs(a.sin_port)};
}

bool can_connect(int port) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) {
        ++n;
    }
    return n;
}

constexpr const char* kRunScript =
    "#!/bin/sh\necho \"$0 up: $GREETING\"\n"
    "trap 'exit 0' TERM\nwhile true; do sleep 1 & wait $!; done\n";

class ImagePullRoot : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root (namespaces, overlayfs mounts)";
        }
        auto fs = read_file("/proc/filesystems");
        if (!fs || fs->find("overlay") == std::string::npos) {
            GTEST_SKIP() << "needs overlayfs in the kernel";
        }
        if (access("/bin/busybox", X_OK) != 0 || access("/usr/bin/docker-registry", X_OK) != 0 ||
            access("/usr/bin/skopeo", X_OK) != 0) {
            GTEST_SKIP() << "needs busybox, docker-registry and skopeo (scripts/install-deps)";
        }
        char tmpl[] = "/tmp/gantry_pullXXXXXX";
        dir_ = mkdtemp(tmpl);
        std::filesystem::create_directories(dir_ + "/state");
    }
    void TearDown() override {
        if (registry_ > 0) {
            ::kill(registry_, SIGTERM);
            ::waitpid(registry_, nullptr, 0);
        }
    }

    // Debian's docker-registry on a free loopback port, storage under the test dir.
    void start_registry() {
        auto [probe, port] = listen_loopback();
        probe.reset();
        port_ = port;
        std::string cfg = dir_ + "/registry.yml";
        std::ofstream(cfg) << "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                           << "    rootdirectory: " << dir_ << "/registry\nhttp:\n"
                           << "  addr: 127.0.0.1:" << port_ << "\n";
        registry_ = ::fork();
        if (registry_ == 0) {
            int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg.c_str(), nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 100 && !can_connect(port_); ++i) {
            std::this_thread::sleep_for(50ms);
        }
        ASSERT_TRUE(can_connect(port_)) << "docker-registry did not start listening";
    }

    // gantry-build makes a layout; skopeo pushes it as <repo>:v1.
    void push(const std::string& repo) {
        json spec = json::parse(R"({"base": "busybox", "tag": "v1", "layers": [{"files": []}],
                                    "config": {"Cmd": ["/app/run"]}})");
        spec["layers"][0]["files"].push_back(
            {{"path", "/app/run"}, {"content", kRunScript}, {"mode", "0755"}});
        spec["config"]["Env"] = {"PATH=/bin:/usr/bin", "GREETING=pulled"};
        std::string spec_path = dir_ + "/spec.json", layout = dir_ + "/layout";
        std::ofstream(spec_path) << spec.dump();
        std::string out;
        ASSERT_EQ(run({GANTRY_BUILD_BIN, "image", "--spec", spec_path, "--out", layout}, &out), 0)
            << out;
        ASSERT_EQ(run({"skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                       "oci:" + layout + ":v1", "docker://" + host() + "/" + repo + ":v1"},
                      &out),
                  0)
            << out;
    }

    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

    std::string config(const std::string& body) {
        std::string path = dir_ + "/config.yaml";
        std::ofstream(path) << "#cloud-config\nservices:\n" << body;
        return path;
    }

    std::string dir_;
    int port_ = 0;
    pid_t registry_ = -1;
};

// Two services need an image the store lacks: one helper run pulls it (once), both start
// with the image's defaults (its Cmd and Env: the config was resolved when it arrived).
TEST_F(ImagePullRoot, MissingImagePulledOnceForTwoServices) {
    start_registry();
    push("gantry/app");
    std::string image = host() + "/gantry/app:v1";
    auto h = HostInit::start_config(
        dir_, config("  a:\n    image: " + image + "\n    stop_grace_period: 1s\n" +
                     "  b:\n    image: " + image + "\n    stop_grace_period: 1s\n"));
    ASSERT_TRUE(h->wait_state("a", "running", 60s)) << h->service("a").dump(2) << h->init_log();
    ASSERT_TRUE(h->wait_state("b", "running", 20s)) << h->service("b").dump(2);
    std::string log = h->init_log();
    EXPECT_EQ(count(log, "image helper started"), 1) << log;
    EXPECT_EQ(count(log, "image ready"), 1) << log;
    // The image's Cmd ran with its Env: the spec was mapped again with the image config.
    json a = h->service("a");
    bool said = false;
    for (int i = 0; i < 50 && !said; ++i) {
        auto logs = h->raw_call({{"cmd", "logs"}, {"service", "a"}});
        said = logs.dump().find("/app/run up: pulled") != std::string::npos;
        if (!said) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_TRUE(said) << h->raw_call({{"cmd", "logs"}, {"service", "a"}}).dump(2);
    // The events show the wait with its reason.
    auto ev = h->raw_call({{"cmd", "events"}});
    EXPECT_NE(ev.dump().find("pulling " + image), std::string::npos) << ev.dump(2);

    // The next boot finds the image in the store, unpacked: no helper process at all.
    h->terminate();
    h->keep_dir = true;
    h.reset();
    std::filesystem::remove(dir_ + "/init.log");  // the fixture appends; count this boot's
    auto again = HostInit::start_config(
        dir_, config("  a:\n    image: " + image + "\n    stop_grace_period: 1s\n"));
    ASSERT_TRUE(again->wait_state("a", "running", 20s)) << again->init_log();
    EXPECT_EQ(count(again->init_log(), "image helper started"), 0) << again->init_log();
}

// A registry that accepts connections and never answers: the helper hangs in its pull,
// PID 1 does not. `ps` answers at once and shows the service waiting, with the reason.
TEST_F(ImagePullRoot, HungRegistryDoesNotBlockTheLoop) {
    auto [hole, port] = listen_loopback();
    port_ = port;
    std::string image = host() + "/gantry/slow:v1";
    auto h = HostInit::start_config(dir_, config("  slow:\n    image: " + image + "\n"));
    json slow;
    for (int i = 0; i < 100; ++i) {
        slow = h->service("slow");
        if (slow.is_object() && slow.value("reason", "").find("pulling") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    Clock::duration worst{0};
    for (int i = 0; i < 20; ++i) {
        auto t0 = Clock::now();
        auto ps = h->raw_call({{"cmd", "ps"}});
        worst = std::max(worst, Clock::now() - t0);
        ASSERT_EQ(ps["ok"], true) << ps.dump(2);
        std::this_thread::sleep_for(50ms);
    }
    slow = h->service("slow");
    EXPECT_EQ(slow["state"], "waiting") << slow.dump(2);
    ASSERT_TRUE(slow.is_object()) << h->init_log();
    EXPECT_NE(slow.value("reason", "").find("pulling " + image), std::string::npos) << slow.dump(2);
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(worst).count(), 500)
        << "ps took too long while the registry hung";
    // Shutdown with the helper still hanging: it is killed, the init exits in time.
    EXPECT_EQ(h->terminate(), 0) << h->init_log();
}

// An image the registry does not have, and a registry that is down: the service gets the
// helper's error as its reason, and its restart policy applies.
TEST_F(ImagePullRoot, FailedPullGivesClearErrorAndRestartPolicy) {
    start_registry();
    auto [closed, dead_port] = listen_loopback();
    closed.reset();  // nothing listens there now: connection refused
    std::string unknown = host() + "/gantry/nope:v1";
    std::string down = "127.0.0.1:" + std::to_string(dead_port) + "/gantry/app:v1";
    auto h = HostInit::start_config(
        dir_, config("  nope:\n    image: " + unknown + "\n    restart: \"no\"\n" +
                     "  down:\n    image: " + down + "\n    restart: always\n"));
    ASSERT_TRUE(h->wait_state("nope", "failed", 60s)) << h->service("nope").dump(2);
    std::string reason = h->service("nope").value("reason", "");
    EXPECT_NE(reason.find("gantry/nope"), std::string::npos) << reason;
    EXPECT_NE(reason.find("manifest"), std::string::npos) << reason;
    // restart: always keeps trying with the default backoff (100 ms, doubling), each try a
    // helper run that fails.
    json d;
    for (int i = 0; i < 150; ++i) {
        d = h->service("down");
        if (d.value("restarts", 0) >= 2) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_GE(d.value("restarts", 0), 2) << d.dump(2);
    auto ev = h->raw_call({{"cmd", "events"}}).dump();
    EXPECT_NE(ev.find(std::to_string(dead_port)), std::string::npos) << ev;
}

}  // namespace
}  // namespace gantry::supervisor
