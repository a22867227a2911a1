#include "image/reference.h"

#include <gtest/gtest.h>

namespace gantry::image {
namespace {

std::string norm(std::string_view s) {
    auto r = Reference::parse(s);
    return r ? r->str() : "ERR: " + r.error().str();
}

const std::string kHex(64, 'a');

TEST(Reference, DockerHubDefaults) {
    EXPECT_EQ(norm("redis"), "docker.io/library/redis:latest");
    EXPECT_EQ(norm("redis:7"), "docker.io/library/redis:7");
    EXPECT_EQ(norm("bitnami/redis:7.2"), "docker.io/bitnami/redis:7.2");
    EXPECT_EQ(norm("docker.io/redis"), "docker.io/library/redis:latest");
    EXPECT_EQ(norm("index.docker.io/library/redis"), "docker.io/library/redis:latest");
}

TEST(Reference, HostAndPort) {
    auto r = Reference::parse("127.0.0.1:5000/team/app:1.0");
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->domain, "127.0.0.1:5000");
    EXPECT_EQ(r->path, "team/app");
    EXPECT_EQ(r->tag, "1.0");
    EXPECT_TRUE(r->is_loopback());
    EXPECT_EQ(norm("localhost/app"), "localhost/app:latest");
    EXPECT_EQ(norm("ghcr.io/o/app"), "ghcr.io/o/app:latest");
    EXPECT_EQ(Reference::parse("ghcr.io/o/app")->registry_host(), "ghcr.io");
    EXPECT_EQ(Reference::parse("redis")->registry_host(), "registry-1.docker.io");
    EXPECT_FALSE(Reference::parse("ghcr.io/o/app")->is_loopback());
}

TEST(Reference, Digest) {
    auto r = Reference::parse("app@sha256:" + kHex);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_TRUE(r->tag.empty());
    EXPECT_EQ(r->api_reference(), "sha256:" + kHex);
    EXPECT_EQ(r->str(), "docker.io/library/app@sha256:" + kHex);
    EXPECT_EQ(norm("localhost:5000/app:1@sha256:" + kHex), "localhost:5000/app:1@sha256:" + kHex);
}

TEST(Reference, RejectsMalformed) {
    for (const char* bad : {"", "UPPER", "app:", "app:-x", "app@sha256:abc",
                            "app@md5:"
                            "00",
                            "a//b", "-app", "app/", "/app", "host:5000/", "app:a b"}) {
        EXPECT_FALSE(Reference::parse(bad)) << "'" << bad << "' parsed as " << norm(bad);
    }
    auto r = Reference::parse("app@sha512:" + std::string(128, 'a'));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().str().find("only sha256"), std::string::npos) << r.error().str();
}

TEST(Reference, SeparatorsInComponents) {
    EXPECT_EQ(norm("x/a.b_c__d-e---f"), "docker.io/x/a.b_c__d-e---f:latest");
    // A first component with a dot is a registry host, as in distribution/reference.
    EXPECT_EQ(Reference::parse("a.b/x")->domain, "a.b");
    EXPECT_FALSE(Reference::parse("a___b"));
    EXPECT_FALSE(Reference::parse("a..b"));
}

}  // namespace
}  // namespace gantry::image
