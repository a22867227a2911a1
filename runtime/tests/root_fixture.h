// Shared set-up of the root-label runtime tests: a busybox rootfs with the probe in a temp
// dir, a bundle made from Gantry's default spec, and helpers to run containers.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/container.h"
#include "runtime/spec.h"

namespace gantry::runtime::testing {

// What the probe reports for the process settings both container_root_test and
// exec_root_test give it: uid 1000, gid 1001, groups 5 and 6, umask 027, RLIMIT_NOFILE
// 100/200, cwd /data, oom_score_adj 500, FOO=bar, no effective capabilities.
void expect_probe_settings(const nlohmann::json& p);

class RootTest : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;

    // Gantry's default spec, without the security objects when that part is not built,
    // running `args`.
    nlohmann::json base_spec(std::vector<std::string> args) const;
    // Writes <bundle>/config.json.
    void write_config(const nlohmann::json& spec) const;
    // A unique container id for this test.
    std::string id(const std::string& suffix = "") const;

    struct Run {
        std::string out;
        ExitStatus status;
    };
    // Creates, starts and waits for a container through the library; stdout captured.
    Result<Run> run(const nlohmann::json& spec);
    // As run() with the probe and its arguments, parsing its JSON.
    nlohmann::json probe(nlohmann::json spec, std::vector<std::string> probe_args = {});

    std::string dir_;     // temp dir
    std::string bundle_;  // dir_/bundle
    std::string rootfs_;  // bundle_/rootfs
};

// Host namespace link ("pid:[4026531836]").
std::string host_ns(const char* name);
std::string read_pipe_all(int fd);

}  // namespace gantry::runtime::testing
