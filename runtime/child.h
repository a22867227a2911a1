// The container child: everything between clone3() and execve(), as numbered steps.
//
// The parent (container.cc) turns a Spec into a ChildPlan: every string already a C string,
// every path already computed, every fd already open. The child only reads it: no
// allocation, no locks, no exceptions (it may be forked from a multi-threaded supervisor,
// where another thread could hold the malloc lock). A failing step sends {step, index,
// errno} to the parent over the sync socket and exits; the parent turns that into an Error.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/mount_plan.h"

namespace gantry::runtime {

class Security;

enum class ChildStep : int32_t {
    Stdio = 1,
    WaitParent,
    Setns,
    UserNsRoot,
    UnshareCgroup,
    Hostname,
    OomScoreAdj,
    Mount,  // index: the MountPlan step
    Rlimit,
    Groups,
    Gid,
    Uid,
    Capabilities,
    Umask,
    NoNewPrivs,
    Cwd,
    CloseFds,
    Ready,
    WaitStart,
    Seccomp,
    Exec,
    Clone,  // exec's first stage: clone3 into the joined pid namespace
};

// One message on the sync socket, child -> parent.
struct ChildMsg {
    enum Kind : int32_t { kReady = 1, kError = 2, kPid = 3 };
    int32_t kind = 0;
    int32_t step = 0;
    int32_t index = -1;
    int32_t err = 0;
    int32_t pid = 0;
};

// The spawn path's shared record (exec_spawn.h): the caller and its two CLONE_VM children
// share memory, so the children report here, not over a socket.
struct SpawnShared {
    ChildMsg msg;          // kError from either stage; kind 0 when none
    int32_t pid = 0;       // the process, in the caller's pid namespace (CLONE_PARENT_SETTID)
    int32_t pidfd = -1;    // its pidfd, in the caller's fd table (stage 1 has CLONE_FILES)
    int stage1_done = 0;   // stage 1 came back from the vfork of the process
    int exec_reached = 0;  // the process got as far as execve
    void* process_stack = nullptr;  // lowest address
    size_t process_stack_size = 0;
};

struct ChildPlan {
    struct Join {
        int fd;      // borrowed; an ns file opened in the parent
        int nstype;  // CLONE_NEW*
    };

    // Namespaces. `joins` holds paths to join, user first (joining the user namespace first
    // gives the caps needed to join the others it owns).
    std::vector<Join> joins;
    // exec: setns(pidfd, flags) in a first stage, then clone3 into the pid namespace.
    int exec_pidfd = -1;
    int exec_ns_flags = 0;
    bool unshare_cgroup = false;
    bool stop_before_execve = false;  // tests (ExecOptions::stop_before_execve)
    // In a new or joined user namespace: become its root first. Our host uid is not mapped
    // there, and files created with an unmapped fsuid fail with EOVERFLOW.
    bool become_userns_root = false;

    const char* hostname = nullptr;
    const MountPlan* mounts = nullptr;                         // nullptr for exec
    std::vector<std::pair<std::string, std::string>> sysctls;  // /proc/sys path, value
    const char* oom_score_adj = nullptr;                       // decimal text, or nullptr
    std::vector<std::pair<int, struct rlimit>> rlimits;

    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    bool set_groups = true;  // false in a user namespace whose setgroups is denied
    mode_t umask = 022;
    bool no_new_privs = false;
    const Security* security = nullptr;

    std::string cwd;
    std::vector<char*> argv;  // null-terminated, pointing into strings the parent keeps
    std::vector<char*> envp;  // null-terminated
    std::string path_env;     // PATH for the execvp-style lookup

    int stdio[3] = {-1, -1, -1};  // borrowed; -1 keeps ours
    int sync_fd = -1;             // child end of the SOCK_SEQPACKET sync socket
    // gantry-oci create: after Ready, wait for `gantry-oci start` to connect here (the
    // create process has exited by then) instead of a message on sync_fd.
    int start_listen_fd = -1;
    // exec's spawn path: set, the child reports into it and skips the sync steps.
    SpawnShared* spawn = nullptr;
};

// Runs the steps and execve()s; never returns. `stage1` is the exec path's first stage.
[[noreturn]] void run_child(const ChildPlan& plan) noexcept;
[[noreturn]] void run_exec_stage1(const ChildPlan& plan) noexcept;
// The spawn path's stage 1 (exec_spawn.cc runs it on a stack of its own, `arg` is the
// ChildPlan): joins the namespaces, vforks the process, returns the exit code.
int spawn_stage1_main(void* arg);

// Parent side: "mount: mounts[2] (proc on /proc): Permission denied" from a ChildMsg.
Error child_error(const ChildMsg& m, const MountPlan* mounts);
std::string_view child_step_name(ChildStep s);

// Allocation-free pieces of the child, also used by tests. Return 0 or -errno.
int apply_mount_step(const MountStep& step, const ChildPlan& plan, int& rootfd) noexcept;

}  // namespace gantry::runtime
