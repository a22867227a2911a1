#include "runtime/container.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>

#include "runtime/child.h"
#include "runtime/exec_spawn.h"
#include "runtime/mount_plan.h"
#include "runtime/process_plan.h"
#include "runtime/security_steps.h"

namespace gantry::runtime {

struct Container::State {
    std::string id;
    Spec spec;  // the ChildPlan points into it
    MountPlan mounts;
    Security security;
    CgroupHandle cgroup;
    std::vector<std::string> notes;
    std::vector<Fd> join_fds;
    ProcessStrings strings;
    ChildPlan plan;
    PidFd init;
    Fd sync;
    bool started = false;
    bool reaped = false;
    bool released = false;
    ExitStatus exit;

    // exec, prepared once per container (health checks exec every few seconds):
    std::mutex exec_mu;                     // one exec at a time: they share the stacks
    std::optional<int> exec_ns_flags;       // namespaces of the init that differ from ours
    std::optional<Security> exec_security;  // for a process whose capabilities differ from
    nlohmann::json exec_caps;               // the container's (`security` serves the rest)
    Fd cgroup_dir;                          // O_PATH, for CLONE_INTO_CGROUP
    bool into_cgroup_refused = false;       // the kernel said no once: cgroup.procs instead
    SpawnStacks stacks;

    ~State() {
        if (!released) {
            (void)destroy();
        }
    }

    Status destroy() {
        if (init.valid() && !reaped) {
            (void)init.send_signal(SIGKILL);
            auto st = init.wait();
            reaped = true;
            if (st) {
                exit = *st;
            }
        }
        sync.reset();
        (void)cgroup.kill_all();
        return cgroup.destroy();
    }
};

namespace {

Status write_id_map(pid_t pid, const char* file, const std::vector<IdMapping>& maps) {
    std::string text;
    for (const auto& m : maps) {
        text += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    }
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    Fd fd = GANTRY_TRY(Fd::open(path, O_WRONLY));
    // The kernel takes the whole map in one write, or nothing.
    GANTRY_TRY_CTX(write_all(fd.get(), text), "write {}", path);
    return ok();
}

Result<ChildMsg> recv_msg(int fd) {
    ChildMsg m;
    ssize_t n;
    do {
        n = ::recv(fd, &m, sizeof m, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return fail(exec_setup_timed_out());  // SO_RCVTIMEO (exec_forking); the caller kills
    }
    if (n < 0) {
        return fail(Error::sys("read from the container's sync socket"));
    }
    if (n == 0) {
        m.kind = 0;  // EOF: the child execve'd (O_CLOEXEC) or died
        return m;
    }
    if (n != static_cast<ssize_t>(sizeof m)) {
        return fail(Error::msg("short message from the container child"));
    }
    return m;
}

Status set_recv_timeout(int fd, std::chrono::milliseconds limit) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(limit.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(limit.count() % 1000 * 1000);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        return fail(Error::sys("set a timeout on the container's sync socket"));
    }
    return ok();
}

Status send_go(int fd) {
    ChildMsg go;
    if (::send(fd, &go, sizeof go, MSG_NOSIGNAL) < 0) {
        return fail(Error::sys("signal the container child"));
    }
    return ok();
}

// What an exec needs of its container, prepared by the caller.
struct ExecTarget {
    const PidFd& init;
    int ns_flags;
    const Security& security;
    const std::string& cgroup_path;  // "" for none
    int cgroup_fd;                   // its directory, -1: join by writing cgroup.procs
    const SpawnStacks& stacks;
    bool into_cgroup_refused = false;  // out: CLONE_INTO_CGROUP failed, do not try again
};

// The forking path: a full fork of the caller as stage 1 (setns, then a CLONE_PARENT child),
// the cgroup joined by writing cgroup.procs from here, three round trips on a socket. For
// what the spawn path cannot do (exec_spawn.h): a user namespace to join, a cgroup that
// CLONE_INTO_CGROUP refuses, an architecture without the trampoline.
Result<PidFd> exec_forking(ChildPlan& p, const std::string& cgroup_path) {
    auto pair = GANTRY_TRY(make_socketpair(SOCK_SEQPACKET));
    // Every wait for the children below is bounded, as on the spawn path (exec_spawn.h):
    // a stopped process or a frozen cgroup must not hang the caller.
    GANTRY_TRY(set_recv_timeout(pair.read.get(), kExecSetupTimeout));
    p.sync_fd = pair.write.get();
    auto stage1 = GANTRY_TRY(PidFd::fork());
    if (!stage1) {
        ::close(pair.read.get());
        run_exec_stage1(p);
    }
    pair.write.reset();
    Fd sync = std::move(pair.read);
    auto m = recv_msg(sync.get());
    if (!m) {
        (void)stage1->send_signal(SIGKILL);
    }
    (void)stage1->wait();
    if (!m) {
        return fail(std::move(m).error());
    }
    if (m->kind != ChildMsg::kPid) {
        return fail(m->kind == ChildMsg::kError ? child_error(*m, nullptr)
                                                : Error::msg("the exec helper exited"));
    }
    // Our child (CLONE_PARENT) and not yet reaped, so the pid cannot have been reused.
    PidFd proc = GANTRY_TRY(PidFd::open(m->pid));
    auto kill_and_fail = [&](Error e) -> Result<PidFd> {
        (void)proc.send_signal(SIGKILL);
        (void)proc.wait();
        return fail(std::move(e));
    };
    if (auto r = cgroup_add_pid(cgroup_path, proc.pid()); !r) {
        return kill_and_fail(std::move(r).error());
    }
    if (auto r = send_go(sync.get()); !r) {
        return kill_and_fail(std::move(r).error());
    }
    auto ready = recv_msg(sync.get());
    if (!ready || ready->kind != ChildMsg::kReady) {
        Error e = !ready ? std::move(ready).error()
                  : ready->kind == ChildMsg::kError
                      ? child_error(*ready, nullptr)
                      : Error::msg("the exec'd process exited during setup");
        return kill_and_fail(std::move(e));
    }
    if (auto r = send_go(sync.get()); !r) {
        return kill_and_fail(std::move(r).error());
    }
    auto done = recv_msg(sync.get());
    if (!done || done->kind == ChildMsg::kError) {
        Error e = !done ? std::move(done).error() : child_error(*done, nullptr);
        return kill_and_fail(std::move(e));
    }
    return proc;
}

Result<PidFd> run_exec(ExecTarget& t, const Process& process, const ExecOptions& options) {
    ChildPlan p;
    ProcessStrings strings;
    GANTRY_TRY_CTX(fill_process_plan(p, process, strings), "exec");
    p.security = &t.security;
    p.exec_pidfd = t.init.fd();
    p.exec_ns_flags = t.ns_flags;
    p.stdio[0] = options.stdin_fd;
    p.stdio[1] = options.stdout_fd;
    p.stdio[2] = options.stderr_fd;
    p.stop_before_execve = options.stop_before_execve;
    bool spawn = t.stacks.valid() && (t.ns_flags & CLONE_NEWUSER) == 0 && !options.force_fork &&
                 (t.cgroup_path.empty() || t.cgroup_fd >= 0);
    if (spawn) {
        auto out = GANTRY_TRY_CTX(spawn_exec(p, t.cgroup_fd, t.stacks), "exec");
        if (out.process) {
            return std::move(*out.process);
        }
        // CLONE_INTO_CGROUP refused (a cgroup v1 directory, or a kernel before 5.7): nothing
        // was started. The forking path joins by writing cgroup.procs instead, which also
        // works where CLONE_INTO_CGROUP does not. Not the spawn path with a self-written
        // cgroup.procs: migrating a task that shares our mm would let the cpuset controller
        // migrate our memory to the container's nodes. Remembered when the refusal is about
        // the kind of cgroup or kernel; a transient one (EAGAIN at pids.max, which a
        // cgroup.procs write does not check) costs only this call.
        int e = out.into_cgroup_errno;
        t.into_cgroup_refused =
            e == EBADF || e == EINVAL || e == E2BIG || e == ENOSYS || e == EOPNOTSUPP;
    }
    return GANTRY_TRY_CTX(exec_forking(p, t.cgroup_path), "exec");
}

}  // namespace

Container::Container() = default;
Container::~Container() = default;
Container::Container(Container&&) noexcept = default;
Container& Container::operator=(Container&&) noexcept = default;

Result<Container> Container::create(const Spec& spec, const ContainerOptions& options) {
    Container c;
    c.s_ = std::make_unique<State>();
    State& s = *c.s_;
    s.id = options.id;
    s.spec = spec;
    s.notes = spec.notes;
    const Linux& l = s.spec.linux_;

    // Plans first: nothing is cloned for a spec that cannot work.
    s.mounts = GANTRY_TRY(MountPlan::build(s.spec, options.bundle, s.spec.root.path));
    s.security = GANTRY_TRY(Security::prepare(s.spec.process.capabilities, l.seccomp));
    ChildPlan& p = s.plan;
    GANTRY_TRY(fill_process_plan(p, s.spec.process, s.strings));
    p.mounts = &s.mounts;
    p.security = &s.security;
    if (!s.spec.hostname.empty()) {
        p.hostname = s.spec.hostname.c_str();
    }
    for (const auto& [k, v] : l.sysctl) {
        std::string path = "/proc/sys/" + k;
        for (char& ch : path) {
            ch = ch == '.' ? '/' : ch;
        }
        p.sysctls.emplace_back(std::move(path), v);
    }

    // Namespaces: new ones are clone3 flags; paths are opened here and joined in the child.
    uint64_t flags = 0;
    bool new_user = false;
    for (NsType t : {NsType::User, NsType::Pid, NsType::Network, NsType::Mount, NsType::Ipc,
                     NsType::Uts, NsType::Cgroup}) {
        const Namespace* ns = l.find_namespace(t);
        if (ns == nullptr) {
            continue;
        }
        if (!ns->path.empty()) {
            if (t == NsType::Pid) {
                // setns(CLONE_NEWPID) only moves our future children; joining a pid
                // namespace needs the two-stage exec path.
                return fail(Error::msg(
                    "linux.namespaces: joining a pid namespace by path is not supported by "
                    "create; use exec"));
            }
            Fd fd = GANTRY_TRY_CTX(Fd::open(ns->path, O_RDONLY), "linux.namespaces ({})",
                                   ns_type_name(t));
            p.joins.push_back({fd.get(), ns_clone_flag(t)});
            p.become_userns_root = p.become_userns_root || t == NsType::User;
            s.join_fds.push_back(std::move(fd));
            continue;
        }
        if (t == NsType::Cgroup) {
            p.unshare_cgroup = true;  // after the parent moved the child into its cgroup
            continue;
        }
        if (t == NsType::User) {
            new_user = true;
            p.become_userns_root = true;
        }
        flags |= static_cast<uint64_t>(ns_clone_flag(t));
    }
    if (s.spec.linux_.find_namespace(NsType::Time) != nullptr) {
        return fail(Error::msg("linux.namespaces: the time namespace is not supported"));
    }

    s.cgroup = GANTRY_TRY(CgroupHandle::create(l, s.id, options.cgroup_root, s.notes));

    auto pair = GANTRY_TRY(make_socketpair(SOCK_SEQPACKET));
    p.sync_fd = pair.write.get();
    p.stdio[0] = options.stdin_fd;
    p.stdio[1] = options.stdout_fd;
    p.stdio[2] = options.stderr_fd;
    p.start_listen_fd = options.start_listen_fd;

    // 1. clone3 with the new namespaces.
    auto forked = GANTRY_TRY_CTX(PidFd::fork(flags), "create container {}", s.id);
    if (!forked) {
        ::close(pair.read.get());
        run_child(p);
    }
    s.init = std::move(*forked);
    pair.write.reset();
    s.sync = std::move(pair.read);
    s.join_fds.clear();

    auto abort = [&](Error e) -> Result<Container> {
        (void)s.destroy();
        return fail(std::move(e.context(fmt::format("create container {}", s.id))));
    };
    // 2. uid/gid maps, written by us: the child cannot map ids it does not own.
    if (new_user) {
        if (auto r = write_id_map(s.init.pid(), "uid_map", l.uid_mappings); !r) {
            return abort(std::move(r).error());
        }
        if (auto r = write_id_map(s.init.pid(), "gid_map", l.gid_mappings); !r) {
            return abort(std::move(r).error());
        }
    }
    // 3. cgroup, before the child runs anything of its own.
    if (auto r = s.cgroup.add_process(s.init.pid()); !r) {
        return abort(std::move(r).error());
    }
    // 4. go; 5. wait for Ready (every setup step done) or the failing step.
    if (auto r = send_go(s.sync.get()); !r) {
        return abort(std::move(r).error());
    }
    auto m = recv_msg(s.sync.get());
    if (!m) {
        return abort(std::move(m).error());
    }
    if (m->kind != ChildMsg::kReady) {
        Error e = m->kind == ChildMsg::kError
                      ? child_error(*m, &s.mounts)
                      : Error::msg("the container child exited during setup");
        return abort(std::move(e));
    }
    if (options.start_listen_fd >= 0) {
        s.sync.reset();
    }
    return c;
}

Status Container::start() {
    State& s = *s_;
    if (s.started) {
        return fail(Error::msg("container {} is already started", s.id));
    }
    if (!s.sync.valid()) {
        return fail(Error::msg("container {} waits for `gantry-oci start`, not start()", s.id));
    }
    s.started = true;
    GANTRY_TRY_CTX(send_go(s.sync.get()), "start container {}", s.id);
    auto m = GANTRY_TRY_CTX(recv_msg(s.sync.get()), "start container {}", s.id);
    s.sync.reset();
    if (m.kind == ChildMsg::kError) {
        Error e = child_error(m, &s.mounts);
        (void)s.destroy();
        return fail(std::move(e.context(fmt::format("start container {}", s.id))));
    }
    return ok();
}

Status Container::kill(int sig) const {
    return s_->init.send_signal(sig);
}

Result<ExitStatus> Container::wait() {
    State& s = *s_;
    if (!s.reaped) {
        s.exit = GANTRY_TRY(s.init.wait());
        s.reaped = true;
    }
    return s.exit;
}

Result<PidFd> Container::exec(const Process& process, const ExecOptions& options) {
    State& s = *s_;
    std::lock_guard lock(s.exec_mu);
    // 1. Capabilities and seccomp: the program prepared for the container's own process,
    // when the exec'd process asks for the same capabilities (a health check does). The
    // seccomp profile is always the container's.
    const Security* security = &s.security;
    if (process.capabilities != s.spec.process.capabilities) {
        if (!s.exec_security || s.exec_caps != process.capabilities) {
            s.exec_security.reset();
            s.exec_security = GANTRY_TRY_CTX(
                Security::prepare(process.capabilities, s.spec.linux_.seccomp), "exec");
            s.exec_caps = process.capabilities;
        }
        security = &*s.exec_security;
    }
    // 2. Which namespaces to join: read once through /proc. setns on the pidfd then always
    // joins the init's current ones.
    if (!s.exec_ns_flags) {
        int flags = GANTRY_TRY_CTX(namespaces_to_join(s.init.pid()), "exec");
        // The init must still be the process we think: the pid above went through /proc.
        GANTRY_TRY_CTX(s.init.send_signal(0), "exec: container process");
        s.exec_ns_flags = flags;
    }
    // 3. The cgroup directory and the stacks, opened and mapped on first use.
    if (s.cgroup.active() && !s.cgroup_dir.valid() && !s.into_cgroup_refused) {
        s.cgroup_dir =
            GANTRY_TRY_CTX(Fd::open(s.cgroup.path(), O_PATH | O_DIRECTORY), "exec: cgroup");
    }
    if (!s.stacks.valid() && spawn_supported()) {
        s.stacks = GANTRY_TRY_CTX(SpawnStacks::create(), "exec");
    }
    ExecTarget t{s.init,
                 *s.exec_ns_flags,
                 *security,
                 s.cgroup.path(),
                 s.into_cgroup_refused ? -1 : s.cgroup_dir.get(),
                 s.stacks};
    auto r = run_exec(t, process, options);
    if (t.into_cgroup_refused) {
        s.into_cgroup_refused = true;
        s.cgroup_dir.reset();
    }
    return r;
}

Status Container::destroy() {
    return s_->destroy();
}

const PidFd& Container::init() const {
    return s_->init;
}

pid_t Container::pid() const {
    return s_->init.pid();
}

const std::string& Container::id() const {
    return s_->id;
}

const std::string& Container::cgroup_path() const {
    return s_->cgroup.path();
}

const std::vector<std::string>& Container::notes() const {
    return s_->notes;
}

PidFd Container::release() {
    s_->released = true;
    return std::move(s_->init);
}

Result<PidFd> exec_in(const PidFd& target, const Process& process, const nlohmann::json& seccomp,
                      const std::string& cgroup_path, const ExecOptions& options) {
    // A one-off (gantry-oci exec): everything prepared for this call only.
    Security security = GANTRY_TRY(Security::prepare(process.capabilities, seccomp));
    int flags = GANTRY_TRY_CTX(namespaces_to_join(target.pid()), "exec");
    GANTRY_TRY_CTX(target.send_signal(0), "exec: container process");
    Fd cgroup_dir;
    if (!cgroup_path.empty()) {
        cgroup_dir = GANTRY_TRY_CTX(Fd::open(cgroup_path, O_PATH | O_DIRECTORY), "exec: cgroup");
    }
    SpawnStacks stacks;
    if (spawn_supported()) {
        stacks = GANTRY_TRY_CTX(SpawnStacks::create(), "exec");
    }
    ExecTarget t{target, flags, security, cgroup_path, cgroup_dir.get(), stacks};
    return run_exec(t, process, options);
}

}  // namespace gantry::runtime
