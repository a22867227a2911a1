#include "supervisor/from_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/fd.h"
#include "cloud-config/parse.h"
#include "image/service_defaults.h"
#include "supervisor/graph.h"

namespace gantry::supervisor {
namespace {

using namespace std::chrono_literals;

config::Config parse(std::string_view yaml) {
    auto c = config::parse_config(yaml, "t.yaml");
    EXPECT_TRUE(c) << (c ? "" : config::format_diagnostics(c.error()));
    return c ? *c : config::Config{};
}

image::ContainerConfig web_image() {
    image::ContainerConfig ic;
    ic.entrypoint = {"/docker-entrypoint.sh"};
    ic.cmd = {"httpd", "-f"};
    ic.env = {"PATH=/usr/bin:/bin", "MODE=image", "KEEP=1"};
    ic.working_dir = "/srv";
    ic.user = "www";
    ic.stop_signal = "SIGQUIT";
    ic.healthcheck = image::Healthcheck{{"CMD", "/bin/check"}, 5'000'000'000, 0, 0, 2};
    return ic;
}

Result<std::vector<ServiceSpec>> map(const config::Config& c, const image::ContainerConfig* ic) {
    FromConfigOptions o;
    if (ic) {
        o.lookup = [ic](std::string_view) -> Result<image::ContainerConfig> { return *ic; };
    }
    return services_from_config(c, o);
}

TEST(FromConfig, ImageDefaultsFillWhatTheServiceLeavesOut) {
    auto ic = web_image();
    auto r = map(parse("services:\n  web:\n    image: web:1.0\n"), &ic);
    ASSERT_TRUE(r) << r.error().str();
    const ServiceSpec& s = r->at(0);
    EXPECT_EQ(s.image, "web:1.0");
    EXPECT_EQ(s.argv, (std::vector<std::string>{"/docker-entrypoint.sh", "httpd", "-f"}));
    EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "MODE=image", "KEEP=1"}));
    EXPECT_EQ(s.working_dir, "/srv");
    EXPECT_EQ(s.user, "www");
    EXPECT_EQ(s.stop_signal, SIGQUIT);
    ASSERT_TRUE(s.healthcheck);
    EXPECT_EQ(s.healthcheck->test, (std::vector<std::string>{"/bin/check"}));
    EXPECT_EQ(s.healthcheck->interval, 5s);
    EXPECT_EQ(s.healthcheck->retries, 2);
    EXPECT_EQ(s.hostname, "web");
    EXPECT_TRUE(s.image_error.empty());
    EXPECT_TRUE(validate(s));
}

TEST(FromConfig, ComposeOverrideRules) {
    auto ic = web_image();
    auto r = map(parse(R"(services:
  web:
    image: web:1.0
    entrypoint: ["/bin/sh", "-c"]
    environment: {MODE: config, NEW: x}
    working_dir: /app
    user: "1000:1000"
    stop_signal: SIGINT
    healthcheck: {test: ["CMD-SHELL", "wget -q localhost"], interval: 2s}
)"),
                 &ic);
    ASSERT_TRUE(r) << r.error().str();
    const ServiceSpec& s = r->at(0);
    // entrypoint drops the image's Cmd.
    EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/sh", "-c"}));
    EXPECT_EQ(s.env,
              (std::vector<std::string>{"PATH=/usr/bin:/bin", "MODE=config", "KEEP=1", "NEW=x"}));
    EXPECT_EQ(s.working_dir, "/app");
    EXPECT_EQ(s.user, "1000:1000");
    EXPECT_EQ(s.stop_signal, SIGINT);
    EXPECT_EQ(s.healthcheck->test,
              (std::vector<std::string>{"/bin/sh", "-c", "wget -q localhost"}));
    EXPECT_EQ(s.healthcheck->interval, 2s);
}

TEST(FromConfig, CommandKeepsImageEntrypointAndHealthcheckCanBeDisabled) {
    auto ic = web_image();
    auto r = map(parse("services:\n  web:\n    image: web:1.0\n    command: [sleep, '5']\n"
                       "    healthcheck: {disable: true}\n"),
                 &ic);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->at(0).argv, (std::vector<std::string>{"/docker-entrypoint.sh", "sleep", "5"}));
    EXPECT_FALSE(r->at(0).healthcheck);
}

TEST(FromConfig, ContainerFieldsAreCopied) {
    auto ic = web_image();
    auto r = map(parse(R"(services:
  web:
    image: web:1.0
    restart: on-failure:4
    type: oneshot
    notify: true
    start_timeout: 20s
    watchdog: 5s
    read_only: true
    volumes: ["/srv/data:/data:ro", "cache:/cache"]
    tmpfs: ["/run"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    hostname: www
    ports: ["8080:80"]
    ulimits: {nofile: {soft: 100, hard: 200}}
    sysctls: {net.core.somaxconn: "1024"}
    labels: {team: edge}
    stop_grace_period: 3s
    deploy: {resources: {limits: {memory: 64M, cpus: "0.5", pids: 20}}}
)"),
                 &ic);
    ASSERT_TRUE(r) << r.error().str();
    const ServiceSpec& s = r->at(0);
    EXPECT_EQ(s.restart, RestartPolicy::OnFailure);
    EXPECT_EQ(s.max_retries, 4);
    EXPECT_EQ(s.type, ServiceType::Oneshot);
    EXPECT_TRUE(s.notify);
    EXPECT_EQ(s.start_timeout, std::chrono::seconds(20));
    EXPECT_EQ(s.watchdog, std::chrono::seconds(5));
    EXPECT_TRUE(s.read_only);
    ASSERT_EQ(s.volumes.size(), 2u);
    EXPECT_EQ(s.volumes[0].source, "/srv/data");
    EXPECT_TRUE(s.volumes[0].read_only);
    EXPECT_EQ(s.volumes[1].source, "/var/lib/gantry/volumes/cache");
    ASSERT_EQ(s.tmpfs.size(), 1u);
    EXPECT_EQ(s.tmpfs[0].target, "/run");
    EXPECT_EQ(s.cap_add, (std::vector<std::string>{"CAP_NET_ADMIN"}));
    EXPECT_EQ(s.network_mode, NetworkMode::Bridge);
    EXPECT_EQ(s.hostname, "www");
    EXPECT_EQ(s.ports, (std::vector<std::string>{"8080:80/tcp"}));
    EXPECT_EQ(s.ulimits.at("nofile").hard, 200u);
    EXPECT_EQ(s.sysctls.at("net.core.somaxconn"), "1024");
    EXPECT_EQ(s.labels.at("team"), "edge");
    EXPECT_EQ(s.stop_grace_period, 3s);
    EXPECT_EQ(s.resources.memory_bytes, 64u << 20);
    EXPECT_DOUBLE_EQ(s.resources.cpus, 0.5);
    EXPECT_EQ(s.resources.pids, 20);
}

TEST(FromConfig, EnvFileUnderEnvironment) {
    auto dir = std::filesystem::temp_directory_path() / "from_config_env";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "app.env") << "# comment\nA=file\nB=\"quoted\"\n\nC=c\n";
    auto c = parse("services:\n  web:\n    image: x\n    command: [run]\n    env_file: [" +
                   (dir / "app.env").string() + "]\n    environment: {A: env}\n");
    FromConfigOptions o;
    auto r = services_from_config(c, o);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->at(0).env, (std::vector<std::string>{"PATH=" + std::string(image::kDefaultPath),
                                                      "A=env", "B=quoted", "C=c"}));
    std::filesystem::remove(dir / "app.env");
    auto bad = services_from_config(c, o);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().str().find("env_file"), std::string::npos) << bad.error().str();
}

TEST(FromConfig, MissingImageBecomesAServiceErrorNotAConfigError) {
    FromConfigOptions o;
    o.lookup = [](std::string_view ref) -> Result<image::ContainerConfig> {
        return fail(Error::msg("{} not in the store", ref));
    };
    auto r = services_from_config(parse("services:\n  web:\n    image: ghost:1\n"), o);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->at(0).image_error, "image ghost:1: ghost:1 not in the store");
    EXPECT_TRUE(validate(r->at(0)));
}

TEST(FromConfig, ImageWithNothingToRunIsAServiceError) {
    image::ContainerConfig empty;
    auto r = map(parse("services:\n  web:\n    image: empty\n"), &empty);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_NE(r->at(0).image_error.find("nothing to run"), std::string::npos);
}

TEST(FromConfig, NetworkModes) {
    auto r = map(parse("services:\n  a:\n    image: x\n    command: [x]\n    network_mode: host\n"
                       "  b:\n    image: x\n    command: [x]\n    network_mode: none\n"),
                 nullptr);
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->at(0).network_mode, NetworkMode::Host);
    EXPECT_EQ(r->at(1).network_mode, NetworkMode::None);
    EXPECT_EQ(r->at(0).argv, (std::vector<std::string>{"x"}));
}

TEST(FromConfig, EnvFileParser) {
    auto r = parse_env_file("A=1\n  # x\nB\nC='x y'\n", "f");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[1].first, "B");
    EXPECT_EQ((*r)[2].second, "x y");
    EXPECT_FALSE(parse_env_file("=x\n", "f"));
}

// Every example config maps, and its services form a valid graph.
TEST(FromConfig, ExamplesMapAndFormAGraph) {
    auto ic = web_image();
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(GANTRY_EXAMPLES_DIR)) {
        if (e.path().extension() != ".yaml") {
            continue;
        }
        auto bytes = read_file(e.path());
        ASSERT_TRUE(bytes);
        auto c = config::parse_config(*bytes, e.path().filename());
        ASSERT_TRUE(c) << e.path() << config::format_diagnostics(c.error());
        auto r = map(*c, &ic);
        ASSERT_TRUE(r) << e.path() << ": " << r.error().str();
        for (const auto& s : *r) {
            EXPECT_TRUE(validate(s)) << s.name;
        }
        auto g = Graph::build(*r);
        EXPECT_TRUE(g) << e.path() << ": " << (g ? "" : g.error().str());
        ++n;
    }
    EXPECT_GE(n, 3);
}

}  // namespace
}  // namespace gantry::supervisor
