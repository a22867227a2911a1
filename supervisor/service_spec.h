// ServiceSpec: the supervisor's own description of one service.
//
// This is the supervisor's input type, deliberately independent of the cloud-config
// model (config::Config -> ServiceSpec is the one mapping, written in supervisor/) and of
// the runtime (a Driver turns a ServiceSpec into a process or a container). Fields follow
// Docker Compose semantics so the mapping stays a field-by-field copy.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/units.h"

namespace gantry::supervisor {

using namespace std::chrono_literals;

// Compose `restart:`. `no` never restarts; `on-failure[:N]` restarts after a non-zero
// exit or a signal, at most N times (0 = unbounded); `always` and `unless-stopped`
// restart after any exit. Both stay down after `gantryctl stop`; they differ only in
// what happens at the next boot, which the config layer decides.
enum class RestartPolicy { No, Always, OnFailure, UnlessStopped };

// `simple`: running once spawned (or once READY=1 when `notify`). `oneshot`: a job that
// is expected to exit; exit 0 leaves it `exited`, which satisfies
// service_completed_successfully.
enum class ServiceType { Simple, Oneshot };

// Compose `depends_on.<name>.condition`.
enum class DependCondition { Started, Healthy, CompletedSuccessfully };

struct Dependency {
    std::string service;
    DependCondition condition = DependCondition::Started;
};

// Compose `healthcheck:`. `test` is the argv run inside the service (CMD form; the
// CMD-SHELL form is mapped to {"/bin/sh", "-c", cmd} by the config layer).
struct HealthCheck {
    std::vector<std::string> test;
    Duration interval = 30s;
    Duration timeout = 30s;
    int retries = 3;
    Duration start_period = 0s;
};

// Compose `deploy.resources.limits` / v2 `mem_limit`, `cpus`, `pids_limit`. 0 = unset.
struct Resources {
    uint64_t memory_bytes = 0;
    double cpus = 0;
    int64_t pids = 0;
};

// Exponential restart backoff: initial, doubled after each quick failure up to max, back
// to initial once a run lasted reset_after (systemd RestartSteps/RestartMaxDelaySec,
// s6's minimum gap between restarts).
struct Backoff {
    Duration initial = 100ms;
    Duration max = 30s;
    Duration reset_after = 10s;
};

// More than `burst` starts within `interval` fails the service (systemd
// StartLimitBurst/StartLimitIntervalSec). burst 0 disables the limit. The default never
// trips with the default backoff (7 starts in the first 10 s); it catches a crash loop
// whose backoff was set near zero, which `restart: always` users do not expect to spin.
struct StartLimit {
    int burst = 10;
    Duration interval = 10s;
};

// Compose `logging.options` max-size / max-file for the json-file driver.
struct LogLimits {
    uint64_t max_size = 10ull << 20;
    int max_files = 3;  // the live file plus max_files-1 rotated ones
};

// Compose `volumes:` entries that the container driver mounts (binds; a named volume is a
// directory under the state dir, made by the config layer).
struct VolumeMount {
    std::string source;  // host path
    std::string target;  // path in the container
    bool read_only = false;
};

struct TmpfsMount {
    std::string target;
    uint64_t size_bytes = 0;  // 0 = kernel default
};

struct Ulimit {
    uint64_t soft = 0;
    uint64_t hard = 0;
};

// Compose `network_mode`. There is no netd yet: Bridge gets a new network namespace with
// only `lo` up (as None does); Host shares the host's.
enum class NetworkMode { Bridge, Host, None };

// A service whose image was not in the store when the config was mapped: what it takes
// to map it again once the image helper has brought it (from_config.h).
struct PendingImage;

struct ServiceSpec {
    std::string name;
    std::vector<std::string> argv;  // entrypoint + command, already joined
    std::vector<std::string> env;   // "KEY=VALUE"
    std::string working_dir;        // inside rootfs when rootfs is set; "" = "/"
    std::string user;               // "uid[:gid]" or a user name; "" = the supervisor's
    std::string rootfs;             // a directory to chroot into (until images land); "" = host
    RestartPolicy restart = RestartPolicy::No;
    int max_retries = 0;  // on-failure:N; 0 = unbounded
    std::vector<Dependency> depends_on;
    ServiceType type = ServiceType::Simple;
    bool notify = false;  // readiness through sd_notify READY=1
    // notify only: no READY=1 within this fails the start (systemd TimeoutStartSec,
    // default 90s there too); 0 = wait forever.
    Duration start_timeout = 90s;
    // notify only: WATCHDOG=1 expected at least this often (systemd WatchdogSec), passed
    // as WATCHDOG_USEC; a miss kills the service with SIGABRT. 0 = off.
    Duration watchdog{0};
    std::optional<HealthCheck> healthcheck;
    int stop_signal = SIGTERM;
    Duration stop_grace_period = 10s;
    Resources resources;
    Backoff backoff;
    StartLimit start_limit;
    LogLimits logging;
    // A built-in system service (the embedded gantry-kv): at shutdown it stops only after
    // every other service is down, so their last discovery updates still reach it.
    bool system = false;

    // Container fields: used when `image` is set (the ContainerDriver); the ProcessDriver
    // runs services without an image and ignores them.
    std::string image;        // as written: "web:1.0", "oci:/path:tag", ...
    std::string image_error;  // why the image could not be resolved at load; "" = fine
    // Set when the image was not in the store at load: argv/env/user/... lack the image's
    // defaults until the supervisor maps the service again after the helper's pull.
    std::shared_ptr<const PendingImage> pending_image;
    bool read_only = false;  // read-only root (overlay without an upper)
    std::vector<VolumeMount> volumes;
    std::vector<TmpfsMount> tmpfs;
    std::vector<std::string> cap_add;  // "CAP_NET_ADMIN" or "ALL"
    std::vector<std::string> cap_drop;
    bool privileged = false;
    NetworkMode network_mode = NetworkMode::Bridge;
    std::string hostname;                   // "" = the service name
    std::map<std::string, Ulimit> ulimits;  // "nofile" -> {soft, hard}
    std::map<std::string, std::string> sysctls;
    std::map<std::string, std::string> labels;
    std::vector<std::string> ports;  // as written; logged as not published (no netd yet)
};

std::string_view to_string(RestartPolicy p);
std::string_view to_string(ServiceType t);
std::string_view to_string(DependCondition c);
std::string_view to_string(NetworkMode m);

// "no", "always", "on-failure", "on-failure:5", "unless-stopped".
Status parse_restart(std::string_view text, RestartPolicy& policy, int& max_retries);
Result<DependCondition> parse_condition(std::string_view text);
// "SIGTERM", "TERM", "15".
Result<int> parse_signal(std::string_view text);
// "SIGTERM" for 15.
std::string signal_name(int sig);

// Checks one spec on its own (name, argv, numbers); the graph checks references.
Status validate(const ServiceSpec& spec);

}  // namespace gantry::supervisor
