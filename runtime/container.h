// Container: the in-process API the supervisor uses (and gantry-oci under its CLI).
//
//   Spec spec = GANTRY_TRY(load_bundle("/var/lib/gantry/bundles/web"));
//   ContainerOptions opts{.id = "web", .bundle = "/var/lib/gantry/bundles/web"};
//   opts.stdout_fd = out_pipe.write.get();           // borrowed; dup'ed into the child
//   Container c = GANTRY_TRY(Container::create(spec, opts));   // set up, not yet running
//   GANTRY_TRY(c.start());                           // execve process.args
//   loop.add_child(c.init().fd(), ...);              // the pidfd is pollable
//   PidFd check = GANTRY_TRY(c.exec(probe_process)); // a health check inside it
//   GANTRY_TRY(c.destroy());                         // SIGKILL, reap, remove the cgroup
//
// create() clones the container's init with clone3(CLONE_PIDFD | CLONE_NEW*), writes its
// uid/gid maps, puts it in its cgroup, and waits until the child has finished every setup
// step (child.h) and sits just before execve. A failed step comes back as an Error naming
// the step ("mount: mounts[3] (bind on /data): No such file or directory"); the child has
// been reaped by then. start() lets it execve; the error of a failed execve is returned.
// The Container owns the init: destroying a Container that was never destroy()ed kills it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/pidfd.h"
#include "runtime/spec.h"

namespace gantry::runtime {

struct ContainerOptions {
    std::string id;
    // Anchors relative bind-mount sources; spec.root.path must already be absolute
    // (load_bundle makes it so).
    std::string bundle;
    // Borrowed; -1 keeps the caller's own stdin/stdout/stderr.
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    // gantry-oci create: a listening unix socket. The init waits for a connection on it
    // (from `gantry-oci start`, another process) instead of start().
    int start_listen_fd = -1;
    std::string cgroup_root = "/sys/fs/cgroup";
};

// For exec(): stdio of the new process; -1 keeps the caller's.
struct ExecOptions {
    int stdin_fd = -1;
    int stdout_fd = -1;
    int stderr_fd = -1;
    // Take the forking path even where the spawn path applies (tests, gantry-exec-bench).
    bool force_fork = false;
    // Tests: the process stops itself (SIGSTOP) right before its execve, as a container
    // process could stop it from outside; the caller must give up after kExecSetupTimeout.
    bool stop_before_execve = false;
};

class Container {
  public:
    struct State;  // everything the child plan points into; stable address

    Container();
    ~Container();
    Container(Container&&) noexcept;
    Container& operator=(Container&&) noexcept;

    static Result<Container> create(const Spec& spec, const ContainerOptions& options);

    // Lets the init execve. Fails if it was already started or the execve failed.
    Status start();
    Status kill(int sig) const;
    Result<ExitStatus> wait();
    // Runs `process` inside the running container: its namespaces (setns on the pidfd),
    // its cgroup, its seccomp filter; the process's own user, caps, env, cwd. Returns once
    // the process has execve'd (or with the error that stopped it). The first call prepares
    // what every later one reuses (namespaces to join, the cgroup fd, the seccomp program);
    // the process is spawned without copying the caller where it can be (exec_spawn.h).
    // Calls on one Container are serialised.
    Result<PidFd> exec(const Process& process, const ExecOptions& options = {});
    // SIGKILL, reap, remove the cgroup. Safe to call more than once.
    Status destroy();

    const PidFd& init() const;
    pid_t pid() const;
    const std::string& id() const;
    // The cgroup directory, "" when the container has none.
    const std::string& cgroup_path() const;
    // Notes gathered while creating ("cgroup: none created ...", ignored fields).
    const std::vector<std::string>& notes() const;
    // Leaves the init running when this object goes away (gantry-oci create hands it to
    // the state directory). Returns the pidfd.
    PidFd release();

  private:
    std::unique_ptr<State> s_;
};

// Runs `process` inside the namespaces of the process behind `target` (gantry-oci exec,
// where the container is not this process's child). `seccomp` is the container's
// linux.seccomp (null: none). `cgroup_path` "" skips joining a cgroup.
Result<PidFd> exec_in(const PidFd& target, const Process& process, const nlohmann::json& seccomp,
                      const std::string& cgroup_path, const ExecOptions& options);

}  // namespace gantry::runtime
