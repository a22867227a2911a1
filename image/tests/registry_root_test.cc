// Root tests: Debian's docker-registry on 127.0.0.1 (random port, temp storage), images
// pushed by skopeo from OCI layouts that gantry-build made, pulled by Gantry.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "image/fsutil.h"
#include "image/registry.h"
#include "image/tests/test_util.h"
#include "image/tests/token_server.h"

namespace gantry::image {
namespace {

using testing::TempDir;

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
        *out = text ? *text : "";
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

bool can_connect(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

class RegistryRoot : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (::access("/usr/bin/docker-registry", X_OK) != 0 ||
            ::access("/usr/bin/skopeo", X_OK) != 0) {
            missing_ =
                "needs Debian's docker-registry and skopeo (apt-get install "
                "docker-registry skopeo)";
            return;
        }
        dir_ = new TempDir();
        port_ = free_port();
        std::string cfg = fmt::format(R"(version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{}
)",
                                      *dir_ / "storage", port_);
        ASSERT_TRUE(write_file_atomic(*dir_ / "config.yml", cfg));
        pid_ = ::fork();
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            ::dup2(null, 1);
            ::dup2(null, 2);
            ::execl("/usr/bin/docker-registry", "docker-registry", "serve",
                    (*dir_ / "config.yml").c_str(), nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 100 && !can_connect(port_); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!can_connect(port_)) {
            missing_ = "docker-registry did not start listening";
        }
    }
    static void TearDownTestSuite() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
        delete dir_;
    }
    void SetUp() override {
        if (!missing_.empty()) {
            GTEST_SKIP() << missing_;
        }
    }
    static std::string host() { return "127.0.0.1:" + std::to_string(port_); }

    // Builds a layout and pushes it with skopeo as <repo>:<tag>.
    build::BuiltImage push(const std::string& spec, const std::string& repo, bool all = false) {
        std::string layout = t_ / ("layout-" + repo);
        auto built = testing::build_layout(spec, layout);
        std::vector<std::string> argv = {"skopeo", "--insecure-policy", "copy", "-q",
                                         "--dest-tls-verify=false"};
        if (all) {
            argv.push_back("--all");
        }
        argv.push_back("oci:" + layout + ":v1");
        argv.push_back("docker://" + host() + "/" + repo + ":v1");
        std::string out;
        EXPECT_EQ(run(argv, &out), 0) << out;
        return built;
    }

    TempDir t_;
    Store store_ = *Store::open(t_ / "store");
    static inline TempDir* dir_ = nullptr;
    static inline int port_ = 0;
    static inline pid_t pid_ = -1;
    static inline std::string missing_;
};

const char* kSpec = R"({"base": "busybox", "tag": "v1",
    "layers": [{"files": [{"path": "/etc/hello", "content": "from the registry\n"}]}],
    "config": {"Cmd": ["/bin/sh"]}})";

TEST_F(RegistryRoot, PullByTagAndByDigest) {
    push(kSpec, "gantry/app");
    auto r = pull_image(store_, host() + "/gantry/app:v1", {});
    ASSERT_TRUE(r) << r.error().str();
    auto img = store_.load(*r);
    ASSERT_TRUE(img) << img.error().str();
    EXPECT_EQ(img->manifest.layers.size(), 2u);
    EXPECT_EQ(img->config.config.cmd, std::vector<std::string>{"/bin/sh"});

    TempDir other;
    Store s2 = *Store::open(other / "store");
    auto by_digest = pull_image(s2, host() + "/gantry/app@" + r->digest.str(), {});
    ASSERT_TRUE(by_digest) << by_digest.error().str();
    EXPECT_EQ(by_digest->digest, r->digest);
    EXPECT_TRUE(s2.load(host() + "/gantry/app@" + r->digest.str()));
}

TEST_F(RegistryRoot, MultiPlatformIndex) {
    push(R"({"base": "scratch", "tag": "v1", "platforms": ["linux/amd64", "linux/arm64"],
             "layers": [{"files": [{"path": "/x", "content": "x"}]}]})",
         "gantry/multi", /*all=*/true);
    auto r = pull_image(store_, host() + "/gantry/multi:v1",
                        {.platform = *Platform::parse("linux/arm64")});
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_FALSE(r->index_digest.empty());
    auto img = store_.load(*r);
    ASSERT_TRUE(img);
    EXPECT_EQ(img->config.platform.architecture, "arm64");
    auto amd = pull_image(store_, host() + "/gantry/multi:v1",
                          {.platform = *Platform::parse("linux/amd64")});
    ASSERT_TRUE(amd) << amd.error().str();
    EXPECT_NE(amd->digest, r->digest);
}

TEST_F(RegistryRoot, DigestMismatchRejectedNothingStored) {
    auto built = push(R"({"base": "scratch", "tag": "v1",
        "layers": [{"files": [{"path": "/data", "content": "original content of the layer"}]}]})",
                      "gantry/tampered");
    auto m = parse_manifest(
        testing::slurp(t_ / ("layout-gantry/tampered/blobs/sha256/" + built.top.hex())));
    ASSERT_TRUE(m);
    // Tamper with the registry's stored copy of the layer (it serves what is on disk).
    const auto& hex = m->layers[0].digest.hex();
    std::string data_path = *dir_ / ("storage/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) +
                                     "/" + hex + "/data");
    std::string data = testing::slurp(data_path);
    ASSERT_FALSE(data.starts_with("<missing")) << data_path;
    data[data.size() / 2] ^= 0x20;
    ASSERT_TRUE(write_file_atomic(data_path, data));
    auto r = pull_image(store_, host() + "/gantry/tampered:v1", {.retries = 0});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("corrupt or tampered"), std::string::npos) << r.error().str();
    EXPECT_EQ(testing::count_entries(t_ / "store/blobs/sha256"), 0u);
    EXPECT_FALSE(store_.find(host() + "/gantry/tampered:v1"));
}

// A registry that demands bearer tokens from a token server (token auth as Docker Hub
// does it); skopeo pushes with a push token, Gantry pulls through the challenge.
TEST(RegistryTokenAuth, PullWithBearerToken) {
    if (::access("/usr/bin/docker-registry", X_OK) != 0 || ::access("/usr/bin/skopeo", X_OK) != 0 ||
        ::access("/usr/bin/openssl", X_OK) != 0) {
        GTEST_SKIP() << "needs docker-registry, skopeo and the openssl CLI";
    }
    TempDir t;
    testing::TokenServer tokens(t.path(), "gantry-test-issuer", "gantry-test");
    ASSERT_TRUE(tokens.ok()) << "could not make a signing certificate with openssl";
    int port = free_port();
    std::string host = "127.0.0.1:" + std::to_string(port);
    ASSERT_TRUE(write_file_atomic(
        t / "config.yml",
        fmt::format("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    "
                    "rootdirectory: {}\nhttp:\n  addr: {}\nauth:\n  token:\n    realm: {}\n"
                    "    service: gantry-test\n    issuer: gantry-test-issuer\n"
                    "    rootcertbundle: {}\n",
                    t / "storage", host, tokens.realm(), tokens.cert_path())));
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execl("/usr/bin/docker-registry", "docker-registry", "serve", (t / "config.yml").c_str(),
                nullptr);
        ::_exit(127);
    }
    for (int i = 0; i < 100 && !can_connect(port); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    testing::build_layout(R"({"base": "scratch", "tag": "v1",
        "layers": [{"files": [{"path": "/secret", "content": "behind a token"}]}]})",
                          t / "layout");
    std::string out;
    int rc = run({"skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                  "oci:" + (t / "layout") + ":v1", "docker://" + host + "/gantry/secure:v1"},
                 &out);
    EXPECT_EQ(rc, 0) << out;
    int issued_before = tokens.tokens_issued();
    EXPECT_GT(issued_before, 0) << "the registry let skopeo push without a token";
    Store store = *Store::open(t / "store");
    auto r = rc == 0 ? pull_image(store, host + "/gantry/secure:v1", {})
                     : Result<ImageRecord>(fail(Error::msg("push failed")));
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_GT(tokens.tokens_issued(), issued_before) << "Gantry never asked for a token";
    EXPECT_TRUE(store.load(*r));
}

}  // namespace
}  // namespace gantry::image
