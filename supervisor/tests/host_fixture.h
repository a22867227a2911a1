// Runs gantry-init --host-mode in a temp dir for the root tests, and talks to its API.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "supervisor/api_client.h"

namespace gantry::supervisor::testing {

class HostInit {
  public:
    // Writes {"services": services} and starts gantry-init; fails the test if the API
    // does not come up within 5 s.
    static std::unique_ptr<HostInit> start(const nlohmann::json& services);
    // Writes `file` as the JSON service file as is ({"services":..., "kv":...}) and starts
    // gantry-init with `extra_args` before the config.
    static std::unique_ptr<HostInit> start_file(const nlohmann::json& file,
                                                const std::vector<std::string>& extra_args);
    // Starts gantry-init on `config` (a cloud-config YAML) with state in <dir>/state; `dir`
    // exists already (the test put images there) and is removed at the end.
    static std::unique_ptr<HostInit> start_config(const std::string& dir,
                                                  const std::string& config);
    ~HostInit();

    const std::string& dir() const { return dir_; }
    std::string socket() const { return dir_ + "/state/api.sock"; }
    pid_t pid() const { return pid_; }

    ApiClient client() const;
    // One request on a fresh connection; the whole response (ok or not).
    nlohmann::json raw_call(const nlohmann::json& req) const;
    nlohmann::json service(const std::string& name) const;  // inspect
    // Polls until the service is in `state`; false after `timeout`.
    bool wait_state(const std::string& name, const std::string& state,
                    std::chrono::milliseconds timeout) const;
    // Sends SIGTERM and waits for exit; returns the exit status (or -1).
    int terminate();
    std::string init_log() const;
    bool keep_dir = false;  // do not remove dir() at the end (a later run reuses it)

  private:
    static std::unique_ptr<HostInit> launch(std::unique_ptr<HostInit> h, const std::string& config,
                                            const std::vector<std::string>& extra_args = {});
    std::string dir_;
    pid_t pid_ = -1;
};

// Zombie children of `parent`, from /proc.
int count_zombie_children(pid_t parent);
int count_open_fds(pid_t pid);
uint64_t rss_bytes(pid_t pid);

}  // namespace gantry::supervisor::testing
