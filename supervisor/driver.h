// Driver: the seam between the supervisor and whatever runs a service.
//
// ProcessDriver (host processes, optional chroot) is the one that exists today; a
// ContainerDriver over libgantry-runtime's Container API drops in behind the same
// interface. The supervisor only ever holds the PidFd of the service's main process and
// talks to the rest through these calls, so it never learns how isolation is done.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/pidfd.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

class ImageFetcher;

// What the supervisor hands over at start. The fds are borrowed; the driver dups them
// into the service (as its 1 and 2) and must not keep them.
struct StartIo {
    int stdout_fd = -1;
    int stderr_fd = -1;
    std::string notify_socket;  // host path of the service's NOTIFY_SOCKET; "" = none
};

// A started service. `process` is its main process (the container's init); the loop
// watches it and reaps it. `cgroup` is the cgroup v2 directory when there is one.
struct Started {
    PidFd process;
    std::string cgroup;
};

struct Usage {
    std::optional<uint64_t> memory_bytes;     // memory.current, or VmRSS of the main process
    std::optional<uint64_t> oom_kills;        // memory.events oom_kill, when a cgroup exists
    std::optional<uint64_t> pids;             // pids.current, when a cgroup exists
    std::optional<uint64_t> pids_limit_hits;  // pids.events max: forks refused at pids.max
};

class Driver {
  public:
    virtual ~Driver() = default;

    // Starts the service's main process.
    virtual Result<Started> start(const ServiceSpec& spec, const StartIo& io) = 0;
    // Runs `argv` inside the service (same root, user, env, cgroup) with stdout and stderr
    // on `output_fd`: healthchecks and `gantryctl exec`. `running` is null when the
    // service is down (a container driver then fails; the process driver runs it anyway).
    // The caller watches and reaps the returned process and enforces the timeout.
    virtual Result<PidFd> exec(const ServiceSpec& spec, const Started* running,
                               const std::vector<std::string>& argv, int output_fd) = 0;
    // Sends `sig` to the main process, or with `all` to every process of the service.
    virtual Status kill(const ServiceSpec& spec, const Started& s, int sig, bool all) = 0;
    // Whether `pid` belongs to the service (who may send sd_notify messages).
    virtual bool owns(const Started& s, pid_t pid) = 0;
    virtual Usage usage(const Started& s) = 0;
    // After the main process has been reaped: kill what is left, free the cgroup/container.
    virtual void cleanup(const ServiceSpec& spec, const Started& s) = 0;
    // Where images come from when a service's image is not ready (image_fetcher.h); null
    // for drivers without images. The supervisor waits for it before start().
    virtual ImageFetcher* images() { return nullptr; }
};

struct ProcessDriverOptions {
    // A cgroup v2 directory under which each service gets <root>/<name> with memory.max,
    // cpu.max, pids.max. "" = no cgroups (host mode on a cgroup v1 host).
    std::string cgroup_root;
};

// Host processes: fork/exec into the service's argv in a new session (so the group can
// be signalled as a whole), optionally chrooted into `rootfs`, as `user`, with the
// service's env. No namespaces: isolation is the runtime's job.
class ProcessDriver : public Driver {
  public:
    explicit ProcessDriver(ProcessDriverOptions opts = {}) : opts_(std::move(opts)) {}

    Result<Started> start(const ServiceSpec& spec, const StartIo& io) override;
    Result<PidFd> exec(const ServiceSpec& spec, const Started* running,
                       const std::vector<std::string>& argv, int output_fd) override;
    Status kill(const ServiceSpec& spec, const Started& s, int sig, bool all) override;
    bool owns(const Started& s, pid_t pid) override;
    Usage usage(const Started& s) override;
    void cleanup(const ServiceSpec& spec, const Started& s) override;

  private:
    ProcessDriverOptions opts_;
};

// Parses memory.events bytes: the oom_kill counter, or nullopt.
std::optional<uint64_t> parse_oom_kills(std::string_view memory_events);
// One "KEY VALUE" counter of a cgroup events file (memory.events, pids.events), or nullopt.
std::optional<uint64_t> parse_events_counter(std::string_view events, std::string_view key);
// memory.current, memory.events oom_kill, pids.current, pids.events max of a cgroup v2 dir.
Usage cgroup_usage(const std::string& cgroup);

}  // namespace gantry::supervisor
