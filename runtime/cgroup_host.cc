// Cgroup v2, the host half: what this host's cgroup mounts can enforce, and applying a
// CgroupPlan (mkdir, subtree_control, writes), adding processes, killing and removing.
// Every kernel path is a parameter so tests run against temp dirs.
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/strings.h"
#include "runtime/cgroup.h"

namespace gantry::runtime {
namespace {

bool is_cgroup2_fs(int fd) {
    struct statfs st {};
    return fstatfs(fd, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

std::string limit_name(const CgroupWrite& w) {
    return w.controller.empty() ? "cgroup setting" : fmt::format("{} limit", w.controller);
}

}  // namespace

// ---- host detection ----

HostCgroups detect_host_cgroups(const std::string& mountinfo, const std::string& cgroup_root) {
    HostCgroups host;
    std::string root = cgroup_root;
    while (root.size() > 1 && root.back() == '/') {
        root.pop_back();
    }
    for (const auto& line : split(mountinfo, '\n')) {
        // "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer"
        auto fields = split(line, ' ');
        size_t dash = 0;
        while (dash < fields.size() && fields[dash] != "-") {
            ++dash;
        }
        if (fields.size() < 5 || dash + 3 >= fields.size() + 1 || dash + 1 >= fields.size()) {
            continue;
        }
        const std::string& mount_point = fields[4];  // no escapes in cgroup mount points
        const std::string& fstype = fields[dash + 1];
        std::string options = dash + 3 < fields.size() ? fields[dash + 3] : "";
        if (fstype == "cgroup2") {
            if (mount_point == root) {
                host.v2_at_root = true;
            } else if (host.hybrid_mount.empty()) {
                host.hybrid_mount = mount_point;
            }
        } else if (fstype == "cgroup") {
            for (const auto& opt : split(options, ',')) {
                std::string name = opt == "blkio" ? "io" : opt;
                for (auto c : kCgroupControllers) {
                    if (c == name) {
                        host.v1_controllers.push_back(name);
                    }
                }
            }
        }
    }
    auto controllers_of = [](const std::string& dir) {
        std::vector<std::string> out;
        auto text = read_file(dir + "/cgroup.controllers");
        if (text) {
            for (const auto& c : split(std::string(trim(*text)), ' ')) {
                if (!c.empty()) {
                    out.push_back(c);
                }
            }
        }
        return out;
    };
    if (host.v2_at_root) {
        host.root_controllers = controllers_of(root);
    }
    if (!host.hybrid_mount.empty()) {
        host.hybrid_controllers = controllers_of(host.hybrid_mount);
    }
    return host;
}

std::string describe_missing_cgroup2(const HostCgroups& host, const std::string& cgroup_root) {
    std::string head = fmt::format("cgroup v2 is not mounted at {}", cgroup_root);
    std::string held = host.hybrid_controllers.empty()
                           ? std::string("no controllers")
                           : "only: " + join(host.hybrid_controllers, ", ");
    if (!host.v1_controllers.empty() && !host.hybrid_mount.empty()) {
        return fmt::format("{} (this host has cgroup v1 with a hybrid cgroup2 at {} holding {})",
                           head, host.hybrid_mount, held);
    }
    if (!host.v1_controllers.empty()) {
        return fmt::format("{} (this host has cgroup v1 only: {})", head,
                           join(host.v1_controllers, ", "));
    }
    if (!host.hybrid_mount.empty()) {
        return fmt::format("{} (cgroup2 is mounted at {} instead, holding {})", head,
                           host.hybrid_mount, held);
    }
    return fmt::format("{} (no cgroup file system is mounted on this host)", head);
}

Result<std::string> host_cgroup_support_report(const std::string& mountinfo,
                                               const std::string& cgroup_root) {
    HostCgroups host = detect_host_cgroups(mountinfo, cgroup_root);
    std::string out;
    if (host.v2_at_root) {
        out +=
            fmt::format("cgroup v2 is mounted at {}; controllers available: {}\n", cgroup_root,
                        host.root_controllers.empty() ? "none" : join(host.root_controllers, " "));
    } else {
        out += describe_missing_cgroup2(host, cgroup_root) + "\n";
    }
    auto has = [](const std::vector<std::string>& v, std::string_view c) {
        return std::find(v.begin(), v.end(), c) != v.end();
    };
    for (auto c : kCgroupControllers) {
        std::string status;
        if (host.v2_at_root && has(host.root_controllers, c)) {
            status = "enforceable";
        } else if (host.v2_at_root) {
            status =
                "NOT enforceable: not in cgroup.controllers (kernel lacks it or a v1 "
                "hierarchy holds it)";
        } else if (has(host.v1_controllers, c)) {
            status = "NOT enforceable: held by a cgroup v1 hierarchy (gantry is cgroup v2 only)";
        } else if (has(host.hybrid_controllers, c)) {
            status = fmt::format("NOT enforceable: only in the hybrid cgroup2 at {}, not at {}",
                                 host.hybrid_mount, cgroup_root);
        } else {
            status = "NOT enforceable: not available on this host";
        }
        out += fmt::format("  {:<8} {}\n", c, status);
    }
    return out;
}

// ---- apply ----

Result<Cgroup> Cgroup::create(const CgroupPlan& plan, const std::string& cgroup_root) {
    auto mountinfo = read_file("/proc/self/mountinfo");
    return create(plan, cgroup_root, mountinfo ? *mountinfo : std::string());
}

Result<Cgroup> Cgroup::create(const CgroupPlan& plan, const std::string& cgroup_root,
                              const std::string& mountinfo) {
    // 1. Can this host enforce the plan? cgroup.controllers exists only in cgroup v2.
    auto available_text = read_file(cgroup_root + "/cgroup.controllers");
    if (!available_text) {
        if (!plan.requests_limits()) {
            return Cgroup();  // nothing to enforce: run unmanaged rather than refuse
        }
        const CgroupWrite& w = plan.writes.front();
        return fail(Error::msg(
            "{}; cannot enforce {} requested at {}",
            describe_missing_cgroup2(detect_host_cgroups(mountinfo, cgroup_root), cgroup_root),
            limit_name(w), w.source));
    }
    auto available = split(std::string(trim(*available_text)), ' ');
    for (const auto& c : plan.controllers) {
        if (std::find(available.begin(), available.end(), c) != available.end()) {
            continue;
        }
        auto w = std::find_if(plan.writes.begin(), plan.writes.end(),
                              [&](const CgroupWrite& x) { return x.controller == c; });
        return fail(Error::msg(
            "cgroup v2 at {} does not offer the {} controller (available: "
            "{}); cannot enforce {} limit requested at {}",
            cgroup_root, c, trim(*available_text).empty() ? "none" : trim(*available_text), c,
            w->source));
    }

    // 2. mkdir each level and delegate the controllers down to it: a controller is usable in
    //    a cgroup only if its parent lists it in cgroup.subtree_control.
    std::string dir = cgroup_root;
    auto parts = split(plan.relative_path, '/');
    for (size_t i = 0; i < parts.size(); ++i) {
        Fd parent = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
        Cgroup parent_cg(std::move(parent), dir);
        if (!plan.controllers.empty()) {
            // One write enables them all ("+cpu +memory"); the kernel applies it atomically.
            std::string enable = "+" + join(plan.controllers, " +");
            GANTRY_TRY_CTX(parent_cg.write("cgroup.subtree_control", enable, ""),
                           "enable controllers below {}", dir);
        }
        dir += "/" + parts[i];
        bool leaf = i + 1 == parts.size();
        if (mkdir(dir.c_str(), 0755) == 0) {
            continue;
        }
        if (errno != EEXIST) {
            return fail(Error::sys("mkdir {}", dir));
        }
        // A leftover leaf from a crashed run: remove it so the new cgroup starts from the
        // kernel's defaults, but never adopt one that still has processes or children.
        if (leaf && rmdir(dir.c_str()) == 0 && mkdir(dir.c_str(), 0755) < 0) {
            return fail(Error::sys("mkdir {}", dir));
        }
        if (leaf) {
            auto procs = read_file(dir + "/cgroup.procs");
            if (procs && !trim(*procs).empty()) {
                return fail(
                    Error::msg("cgroup {} already exists and has processes in it ({}); "
                               "is another container using cgroupsPath {}?",
                               dir, trim(*procs), plan.relative_path));
            }
        }
    }

    // 3. The limits, in plan order. On failure, remove what we made so a retry starts clean.
    Fd fd = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
    Cgroup cg(std::move(fd), dir);
    for (const auto& w : plan.writes) {
        auto st = cg.write(w.file, w.value, w.source);
        if (!st) {
            (void)cg.destroy();
            return fail(std::move(st).error());
        }
    }
    return cg;
}

Status Cgroup::write(const std::string& file, std::string_view value, std::string_view source) {
    int fd = openat(dir_.get(), file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !is_cgroup2_fs(dir_.get())) {
        // Test seam: a plain directory standing in for cgroupfs (youki-style fixtures) has no
        // kernel-made files, so make them. On a real cgroup2 ENOENT stays an error.
        fd = openat(dir_.get(), file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    std::string where = source.empty() ? std::string() : fmt::format(" ({})", source);
    if (fd < 0) {
        return fail(Error::sys("open {}/{}{}", path_, file, where));
    }
    Fd owned(fd);
    // One write(2): cgroupfs parses each write as a whole, so it must not be split.
    ssize_t n = ::write(fd, value.data(), value.size());
    if (n < 0) {
        return fail(Error::sys("write {}/{} = \"{}\"{}", path_, file, value, where));
    }
    if (static_cast<size_t>(n) != value.size()) {
        return fail(Error::msg("write {}/{} = \"{}\"{}: short write", path_, file, value, where));
    }
    return ok();
}

Status Cgroup::add_process(pid_t pid) {
    if (!managed()) {
        return ok();
    }
    return write("cgroup.procs", fmt::to_string(pid), "");
}

Status Cgroup::kill_all() {
    if (!managed()) {
        return ok();
    }
    int fd = openat(dir_.get(), "cgroup.kill", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        Fd owned(fd);
        if (::write(fd, "1", 1) == 1) {
            return ok();
        }
        return fail(Error::sys("write {}/cgroup.kill", path_));
    }
    if (errno != ENOENT) {
        return fail(Error::sys("open {}/cgroup.kill", path_));
    }
    // Before Linux 5.14: freeze so no pid can exit (and be reused) or fork between reading
    // cgroup.procs and the kill; SIGKILL still reaches frozen tasks; then thaw.
    GANTRY_TRY(write("cgroup.freeze", "1", ""));
    auto procs = read("cgroup.procs");
    Status result = ok();
    if (!procs) {
        result = fail(std::move(procs).error());
    } else {
        for (const auto& line : split(*procs, '\n')) {
            if (trim(line).empty()) {
                continue;
            }
            std::string_view text = trim(line);
            pid_t pid = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
            if (ec != std::errc() || end != text.data() + text.size() || pid <= 0) {
                continue;  // not a pid: never signal what we cannot name
            }
            if (::kill(pid, SIGKILL) < 0 && errno != ESRCH && result) {
                result = fail(Error::sys("kill {} in {}", pid, path_));
            }
        }
    }
    GANTRY_TRY(write("cgroup.freeze", "0", ""));
    return result;
}

Status Cgroup::destroy() {
    if (!managed()) {
        return ok();
    }
    if (!is_cgroup2_fs(dir_.get())) {
        // Test fixture: plain files inside a plain directory.
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
        if (ec) {
            return fail(Error::with_errno(ec.value(), fmt::format("remove {}", path_)));
        }
        dir_.reset();
        return ok();
    }
    // rmdir fails with EBUSY until the last task has exited, which lags a kill slightly.
    for (int attempt = 0;; ++attempt) {
        if (rmdir(path_.c_str()) == 0 || errno == ENOENT) {
            dir_.reset();
            return ok();
        }
        if (errno != EBUSY || attempt >= 200) {
            return fail(Error::sys("rmdir {}", path_));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

Result<std::string> Cgroup::read(const std::string& file) const {
    if (!managed()) {
        return fail(Error::msg("read {}: the container has no cgroup on this host", file));
    }
    Fd fd = GANTRY_TRY(Fd::openat(dir_.get(), file, O_RDONLY));
    return GANTRY_TRY_CTX(read_all(fd.get()), "read {}/{}", path_, file);
}

}  // namespace gantry::runtime
