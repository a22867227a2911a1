#include "supervisor/container_driver.h"

#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstring>

#include "base/fd.h"
#include "base/log.h"
#include "base/strings.h"
#include "image/overlay.h"
#include "supervisor/container_spec.h"

namespace gantry::supervisor {

namespace {

Status mkdir_p(const std::string& path) {
    std::string cur;
    for (const auto& part : split(path, '/')) {
        if (part.empty()) {
            continue;
        }
        cur += "/" + part;
        if (::mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST) {
            return fail(Error::sys("mkdir {}", cur));
        }
    }
    return ok();
}

std::string ns_of(pid_t pid) {
    char buf[64] = {};
    std::string link = fmt::format("/proc/{}/ns/pid", pid);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, n) : std::string();
}

// The runtime creates the network namespace with `lo` down; until netd configures
// container networks, bringing `lo` up is the supervisor's job (services expect
// 127.0.0.1). setns(CLONE_NEWNET) is allowed because gantry-init is single-threaded; the
// socket is made inside the container's namespace and closed before switching back.
Status bring_up_lo(pid_t pid) {
    Fd self = GANTRY_TRY(Fd::open("/proc/self/ns/net", O_RDONLY));
    Fd target = GANTRY_TRY(Fd::open(fmt::format("/proc/{}/ns/net", pid), O_RDONLY));
    if (::setns(target.get(), CLONE_NEWNET) < 0) {
        return fail(Error::sys("setns into the container's network namespace"));
    }
    Status st = ok();
    {
        Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
        if (!sock.valid() || ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) {
            st = fail(Error::sys("get flags of lo"));
        } else {
            ifr.ifr_flags |= IFF_UP;
            if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) {
                st = fail(Error::sys("bring lo up"));
            }
        }
    }
    if (::setns(self.get(), CLONE_NEWNET) < 0) {
        // Cannot happen with a held ns fd; PID 1 must not abort, so only say it loudly.
        log::error("cannot return to the host network namespace", {{"errno", errno}});
    }
    return st;
}

}  // namespace

ContainerDriver::~ContainerDriver() {
    for (auto& [name, r] : running_) {
        (void)r.container.destroy();
        (void)image::unmount_rootfs(r.rootfs);
    }
}

Result<Started> ContainerDriver::start(const ServiceSpec& spec, const StartIo& io) {
    return GANTRY_TRY_CTX(start_locked(spec, io), "service \"{}\"", spec.name);
}

Result<Started> ContainerDriver::start_locked(const ServiceSpec& spec, const StartIo& io) {
    if (!spec.image_error.empty()) {
        return fail(Error::msg("{}", spec.image_error));
    }
    if (running_.contains(spec.name)) {
        return fail(Error::msg("a container for this service is still up"));
    }
    // Each phase's time goes to the log: where a start spends it, e.g. under TCG.
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    std::string phases;
    auto lap = [&](const char* name) {
        auto now = Clock::now();
        phases += fmt::format("{}{}={:.1f}ms", phases.empty() ? "" : " ", name,
                              std::chrono::duration<double, std::milli>(now - t0).count());
        t0 = now;
    };
    // 1. The image, from the store only: PID 1 never pulls or unpacks. The supervisor
    //    waited for the image helper when the image was missing or not unpacked.
    image::Store store = GANTRY_TRY(image::Store::open(opts_.store_dir));
    image::Image img = GANTRY_TRY(images_.local(spec.image));
    images_.used(spec.image);
    // 2. The root: overlay of the layers under <state>/containers/<name>/rootfs. A mount
    // left by a crashed run is taken down first (a fresh upper each start, as Docker's
    // `compose up` recreates containers).
    std::string bundle = opts_.state_dir + "/containers/" + spec.name;
    std::string rootfs = bundle + "/rootfs";
    GANTRY_TRY(mkdir_p(rootfs));
    (void)image::unmount_rootfs(rootfs);
    (void)image::remove_container(store, spec.name);
    lap("image");
    GANTRY_TRY(image::mount_image_root(store, img, spec.name, rootfs, spec.read_only));
    lap("rootfs");
    auto undo_rootfs = [&] {
        (void)image::unmount_rootfs(rootfs);
        (void)image::remove_container(store, spec.name);
    };
    // Volume sources that do not exist yet are made, as Docker does for the short
    // `SOURCE:TARGET` syntax; a named volume's directory may not exist before the first
    // start (in PID 1, /var/lib/gantry/volumes lives in RAM until storage is set up).
    for (const auto& v : spec.volumes) {
        if (::access(v.source.c_str(), F_OK) != 0) {
            if (auto st = mkdir_p(v.source); !st) {
                undo_rootfs();
                return fail(std::move(st).error().context(
                    fmt::format("volume {} for {}", v.source, v.target)));
            }
        }
    }
    // 3. The spec.
    ContainerSpecInput in;
    in.rootfs = rootfs;
    in.notify_socket = io.notify_socket;
    in.cgroups_path = opts_.cgroup_parent + "/" + spec.name;
    auto ids = resolve_container_user(spec.user, read_file(rootfs + "/etc/passwd").value_or(""),
                                      read_file(rootfs + "/etc/group").value_or(""));
    if (!ids) {
        undo_rootfs();
        return fail(std::move(ids).error());
    }
    in.uid = ids->uid;
    in.gid = ids->gid;
    auto rspec = container_spec(spec, in);
    if (!rspec) {
        undo_rootfs();
        return fail(std::move(rspec).error());
    }
    for (const auto& n : rspec->notes) {
        log::info("container note", {{"service", spec.name}, {"note", n}});
    }
    if (!spec.ports.empty() && spec.network_mode != NetworkMode::Host) {
        log::warn(
            "ports are not published: Gantry has no container networking yet (the "
            "service has only lo); use network_mode: host to reach it",
            {{"service", spec.name}, {"ports", join(spec.ports, ",")}});
    }
    lap("spec");
    // 4. Create and start.
    runtime::ContainerOptions co;
    co.id = spec.name;
    co.bundle = bundle;
    co.stdout_fd = io.stdout_fd;
    co.stderr_fd = io.stderr_fd;
    co.cgroup_root = opts_.cgroup_root;
    auto c = runtime::Container::create(*rspec, co);
    if (!c) {
        undo_rootfs();
        return fail(std::move(c).error());
    }
    lap("create");
    for (const auto& n : c->notes()) {
        log::info("container note", {{"service", spec.name}, {"note", n}});
    }
    if (spec.network_mode != NetworkMode::Host) {
        if (auto st = bring_up_lo(c->pid()); !st) {
            log::warn("lo not up in the container",
                      {{"service", spec.name}, {"error", st.error().str()}});
        }
    }
    if (auto st = c->start(); !st) {
        (void)c->destroy();
        undo_rootfs();
        return fail(std::move(st).error());
    }
    lap("start");
    log::info("container started", {{"service", spec.name}, {"phases", phases}});
    // The supervisor reaps the init through its own pidfd; Container::destroy() later
    // finds it reaped (ECHILD) and only removes the cgroup.
    int dup = ::fcntl(c->init().fd(), F_DUPFD_CLOEXEC, 3);
    if (dup < 0) {
        (void)c->destroy();
        undo_rootfs();
        return fail(Error::sys("dup pidfd"));
    }
    Started s{PidFd(Fd(dup), c->pid()), c->cgroup_path()};
    running_.emplace(spec.name, Running{std::move(*c), rspec->process, rootfs});
    return s;
}

Result<PidFd> ContainerDriver::exec(const ServiceSpec& spec, const Started* running,
                                    const std::vector<std::string>& argv, int output_fd) {
    auto it = running_.find(spec.name);
    if (running == nullptr || it == running_.end()) {
        return fail(
            Error::msg("service \"{}\" is not running (a container has nothing to "
                       "exec in when it is down)",
                       spec.name));
    }
    // Same user, env, cwd, caps and rlimits as the main process; a new argv.
    runtime::Process p = it->second.process;
    p.args = argv;
    runtime::ExecOptions eo;
    eo.stdout_fd = output_fd;
    eo.stderr_fd = output_fd;
    return GANTRY_TRY_CTX(it->second.container.exec(p, eo), "exec in \"{}\"", spec.name);
}

Status ContainerDriver::kill(const ServiceSpec&, const Started& s, int sig, bool all) {
    if (all && sig == SIGKILL && !s.cgroup.empty()) {
        if (auto fd = Fd::open(s.cgroup + "/cgroup.kill", O_WRONLY | O_CLOEXEC);
            fd && write_all(fd->get(), "1")) {
            return ok();
        }
    }
    // Without a cgroup, SIGKILL to the container's init takes the whole pid namespace with
    // it; other signals go to the init, which is the service's main process.
    Status st = s.process.send_signal(sig);
    if (!st && st.error().code() == ESRCH) {
        return ok();
    }
    return st;
}

bool ContainerDriver::owns(const Started& s, pid_t pid) {
    if (pid <= 0) {
        return false;
    }
    // A process in the container's pid namespace (the pid is the host's: SCM_CREDENTIALS
    // are translated to the receiver's namespace). A host process service shares our
    // namespace, so it never matches here.
    std::string ours = ns_of(::getpid());
    std::string theirs = ns_of(s.process.pid());
    return !theirs.empty() && theirs != ours && ns_of(pid) == theirs;
}

Usage ContainerDriver::usage(const Started& s) {
    return s.cgroup.empty() ? Usage{} : cgroup_usage(s.cgroup);
}

void ContainerDriver::cleanup(const ServiceSpec& spec, const Started&) {
    auto it = running_.find(spec.name);
    if (it == running_.end()) {
        return;
    }
    if (auto st = it->second.container.destroy(); !st) {
        log::warn("container not fully removed",
                  {{"service", spec.name}, {"error", st.error().str()}});
    }
    if (auto st = image::unmount_rootfs(it->second.rootfs); !st) {
        log::warn("rootfs not unmounted", {{"service", spec.name}, {"error", st.error().str()}});
    }
    if (auto store = image::Store::open(opts_.store_dir)) {
        (void)image::remove_container(*store, spec.name);
    }
    running_.erase(it);
}

}  // namespace gantry::supervisor
