// Pull client against the in-process fake registry (loopback only): auth, retries,
// resume, verification, platform choice.
#include "image/registry.h"

#include <gtest/gtest.h>

#include "image/tests/fake_registry.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::FakeRegistry;
using testing::TempDir;

// A layer big enough (and incompressible enough) that cutting it in half means something.
std::string spec_with_big_layer() {
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) {
        x = x * 1103515245 + 12345;
        noise.push_back(static_cast<char>('a' + (x >> 16) % 26));
    }
    return R"({"base": "scratch", "tag": "v1", "layers": [
        {"files": [{"path": "/big", "content": ")" +
           noise + R"("}]},
        {"files": [{"path": "/small", "content": "s"}]}],
        "config": {"Cmd": ["/big"]}})";
}

struct Fixture {
    TempDir t;
    Store store = *Store::open(t / "store");
    build::BuiltImage built = testing::build_layout(spec_with_big_layer(), t / "layout");
    PullOptions opts{.retry_delay = std::chrono::milliseconds(1)};
};

TEST(AuthChallenge, Parses) {
    auto c = parse_auth_challenge(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull")");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "bearer");
    EXPECT_EQ(c->params["realm"], "https://auth.docker.io/token");
    EXPECT_EQ(c->params["service"], "registry.docker.io");
    EXPECT_EQ(c->params["scope"], "repository:library/redis:pull");
    auto b = parse_auth_challenge(R"(Basic realm="Registry Realm")");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->scheme, "basic");
    EXPECT_FALSE(parse_auth_challenge(R"(Bearer realm="open)"));
}

TEST(Pull, ByTagWithBearerToken) {
    Fixture f;
    FakeRegistry reg(f.t / "layout", "team/app", {.require_token = true});
    std::vector<PullProgress> seen;
    f.opts.progress = [&](const PullProgress& p) { seen.push_back(p); };
    auto r = pull_image(f.store, reg.host() + "/team/app:v1", f.opts);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->name, reg.host() + "/team/app:v1");
    EXPECT_EQ(r->digest, f.built.top);
    auto img = f.store.load(reg.host() + "/team/app:v1");
    ASSERT_TRUE(img) << img.error().str();
    EXPECT_EQ(img->manifest.layers.size(), 2u);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().done, seen.back().total);
    bool token_asked = false;
    for (const auto& line : reg.requests()) {
        token_asked = token_asked || line.starts_with("GET /token");
    }
    EXPECT_TRUE(token_asked);
    // A second pull downloads nothing but the manifest.
    size_t before = reg.requests().size();
    ASSERT_TRUE(pull_image(f.store, reg.host() + "/team/app:v1", f.opts));
    for (size_t i = before; i < reg.requests().size(); ++i) {
        EXPECT_EQ(reg.requests()[i].find("/blobs/"), std::string::npos) << reg.requests()[i];
    }
}

TEST(Pull, BasicAuth) {
    Fixture f;
    // base64("gantry:s3cret")
    FakeRegistry reg(f.t / "layout", "app", {.basic_auth = "Z2FudHJ5OnMzY3JldA=="});
    auto anon = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_FALSE(anon);
    EXPECT_NE(anon.error().str().find("username and password"), std::string::npos)
        << anon.error().str();
    f.opts.username = "gantry";
    f.opts.password = "wrong";
    auto wrong = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().str().find("HTTP 401"), std::string::npos) << wrong.error().str();
    f.opts.password = "s3cret";
    auto r = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_TRUE(r) << r.error().str();
}

TEST(Pull, RetriesUnavailableRegistry) {
    Fixture f;
    FakeRegistry reg(f.t / "layout", "app", {.unavailable_first = 2});
    auto r = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_TRUE(r) << r.error().str();
    FakeRegistry down(f.t / "layout", "app", {.unavailable_first = 100});
    auto d = pull_image(f.store, down.host() + "/app:v1", f.opts);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().str().find("HTTP 503"), std::string::npos) << d.error().str();
}

TEST(Pull, InterruptedBlobIsResumedWithRange) {
    Fixture f;
    FakeRegistry reg(f.t / "layout", "app", {.cut_first_blob = true});
    auto r = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(reg.range_requests(), 1);
    EXPECT_TRUE(f.store.load(reg.host() + "/app:v1"));
}

TEST(Pull, CorruptBlobRejectedNothingStored) {
    Fixture f;
    auto m = parse_manifest(testing::slurp(f.t / ("layout/blobs/sha256/" + f.built.top.hex())));
    ASSERT_TRUE(m);
    FakeRegistry reg(f.t / "layout", "app", {.corrupt_digest = m->layers[0].digest.str()});
    auto r = pull_image(f.store, reg.host() + "/app:v1", f.opts);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("corrupt or tampered"), std::string::npos) << r.error().str();
    EXPECT_EQ(testing::count_entries(f.t / "store/blobs/sha256"), 0u);
    EXPECT_EQ(testing::count_entries(f.t / "store/tmp"), 0u);
    EXPECT_FALSE(f.store.find(reg.host() + "/app:v1"));
}

TEST(Pull, ByDigestAndUnknownTag) {
    Fixture f;
    FakeRegistry reg(f.t / "layout", "app", {});
    auto r = pull_image(f.store, reg.host() + "/app@" + f.built.top.str(), f.opts);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_TRUE(f.store.find(reg.host() + "/app@" + f.built.top.str()));
    auto missing = pull_image(f.store, reg.host() + "/app:nope", f.opts);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().str().find("HTTP 404"), std::string::npos);
    EXPECT_NE(missing.error().str().find("MANIFEST_UNKNOWN"), std::string::npos);
}

TEST(Pull, MultiPlatformIndex) {
    TempDir t;
    Store store = *Store::open(t / "store");
    testing::build_layout(R"({"base": "scratch", "tag": "m",
        "platforms": ["linux/amd64", "linux/arm64/v8"],
        "layers": [{"files": [{"path": "/x", "content": "x"}]}]})",
                          t / "layout");
    FakeRegistry reg(t / "layout", "app", {});
    PullOptions opts{.platform = *Platform::parse("linux/arm64")};
    auto r = pull_image(store, reg.host() + "/app:m", opts);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_FALSE(r->index_digest.empty());
    auto img = store.load(*r);
    ASSERT_TRUE(img);
    EXPECT_EQ(img->config.platform.architecture, "arm64");
    opts.platform = *Platform::parse("linux/riscv64");
    auto none = pull_image(store, reg.host() + "/app:m", opts);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().str().find("linux/amd64, linux/arm64/v8"), std::string::npos)
        << none.error().str();
}

TEST(Pull, ConnectionRefusedIsAClearError) {
    TempDir t;
    Store store = *Store::open(t / "store");
    // Port 1 on loopback: nothing listens there.
    auto r = pull_image(store, "127.0.0.1:1/app:v1", {.retries = 0});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("127.0.0.1:1"), std::string::npos) << r.error().str();
}

}  // namespace
}  // namespace gantry::image
