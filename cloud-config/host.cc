#include "cloud-config/host.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/fd.h"
#include "cloud-config/codec.h"
#include "cloud-config/users.h"

namespace gantry::config {
namespace {

std::string under(const std::string& root, const std::string& path) {
    if (root.empty() || root == "/") {
        return path;
    }
    return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + path;
}

// A missing file reads as empty: a fresh root may have no /etc/shadow yet.
Result<std::string> read_optional(const std::string& path) {
    auto r = read_file(path);
    if (!r && r.error().code() == ENOENT) {
        return std::string();
    }
    return r;
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

}  // namespace

Status make_dirs(const std::string& path, mode_t mode) {
    if (path.empty() || path == "/") {
        return ok();
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            return fail(Error::msg("'{}' exists and is not a directory", path));
        }
        return ok();
    }
    GANTRY_TRY(make_dirs(parent_of(path), 0755));
    if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) {
        return fail(Error::sys("mkdir '{}'", path));
    }
    return ok();
}

Status write_file_exact(const std::string& path, std::string_view data, mode_t mode, uid_t uid,
                        gid_t gid, bool change_owner) {
    std::string tmp = path + ".gantry-tmp";
    Fd fd = GANTRY_TRY(Fd::open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600));
    auto cleanup = [&](Error e) {
        ::unlink(tmp.c_str());
        return fail(std::move(e));
    };
    if (change_owner && ::fchown(fd.get(), uid, gid) < 0) {
        return cleanup(Error::sys("chown '{}' to {}:{}", tmp, uid, gid));
    }
    // fchmod after fchown: chown clears setuid/setgid bits.
    if (::fchmod(fd.get(), mode) < 0) {
        return cleanup(Error::sys("chmod '{}'", tmp));
    }
    if (auto r = write_all(fd.get(), data); !r) {
        return cleanup(std::move(r).error().context(fmt::format("write '{}'", tmp)));
    }
    if (::fsync(fd.get()) < 0) {
        return cleanup(Error::sys("fsync '{}'", tmp));
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        return cleanup(Error::sys("rename '{}' to '{}'", tmp, path));
    }
    return ok();
}

Result<HostPlan> plan_host(const Config& config, const std::string& root) {
    HostPlan plan;
    plan.hostname = config.hostname;
    plan.timezone = config.timezone;

    // 1. Users: merge into the current /etc files, in memory.
    std::string passwd = GANTRY_TRY(read_optional(under(root, "/etc/passwd")));
    std::string group = GANTRY_TRY(read_optional(under(root, "/etc/group")));
    std::string shadow = GANTRY_TRY(read_optional(under(root, "/etc/shadow")));
    UserDb db = GANTRY_TRY(UserDb::parse(passwd, group, shadow));
    std::vector<User> users = config.users;
    if (!config.ssh_authorized_keys.empty()) {
        auto it = std::find_if(users.begin(), users.end(),
                               [](const User& u) { return u.name == kDefaultUser; });
        if (it == users.end()) {
            User core;
            core.name = std::string(kDefaultUser);
            core.home = "/home/" + core.name;
            users.push_back(core);
            it = users.end() - 1;
        }
        for (const auto& k : config.ssh_authorized_keys) {
            if (std::find(it->ssh_authorized_keys.begin(), it->ssh_authorized_keys.end(), k) ==
                it->ssh_authorized_keys.end()) {
                it->ssh_authorized_keys.push_back(k);
            }
        }
    }
    for (const auto& u : users) {
        db.apply(u);
    }
    if (!users.empty()) {
        plan.files.push_back(FileOp{"/etc/passwd", db.passwd_text(), 0644, 0, 0, false});
        plan.files.push_back(FileOp{"/etc/group", db.group_text(), 0644, 0, 0, false});
        // shadow holds password hashes: readable by root only.
        plan.files.push_back(FileOp{"/etc/shadow", db.shadow_text(), 0600, 0, 0, false});
    }

    // 2. Home directories and authorized_keys, owned by their user (sshd's StrictModes
    // refuses keys in a directory others can write).
    for (const auto& u : users) {
        const PasswdEntry* p = db.user(u.name);
        if (!p) {
            continue;
        }
        plan.dirs.push_back(DirOp{p->home, 0700, p->uid, p->gid});
        if (!u.ssh_authorized_keys.empty()) {
            std::string keys;
            for (const auto& k : u.ssh_authorized_keys) {
                keys += k;
                keys += '\n';
            }
            plan.dirs.push_back(DirOp{p->home + "/.ssh", 0700, p->uid, p->gid});
            plan.files.push_back(
                FileOp{p->home + "/.ssh/authorized_keys", keys, 0600, p->uid, p->gid, false});
        }
    }

    // 3. write_files: decoded and owners resolved now, so a bad one stops the whole plan.
    for (const auto& w : config.write_files) {
        std::string data =
            GANTRY_TRY_CTX(decode_content(w.content, w.encoding), "write_files {}", w.path);
        auto owner = GANTRY_TRY_CTX(resolve_owner(db, w.owner), "write_files {}", w.path);
        plan.files.push_back(
            FileOp{w.path, std::move(data), w.permissions, owner.first, owner.second, w.append});
    }
    return plan;
}

Status apply_host(const HostPlan& plan, const HostOptions& options) {
    const std::string& root = options.root;
    // 1. Host name: /etc/hostname for programs that read it, the kernel's for everything else.
    if (!plan.hostname.empty()) {
        GANTRY_TRY(make_dirs(under(root, "/etc"), 0755));
        GANTRY_TRY(write_file_exact(under(root, "/etc/hostname"), plan.hostname + "\n", 0644, 0, 0,
                                    options.change_owner));
        if (options.set_kernel_hostname &&
            ::sethostname(plan.hostname.data(), plan.hostname.size()) < 0) {
            return fail(Error::sys("sethostname '{}'", plan.hostname));
        }
    }
    // 2. Time zone: /etc/localtime -> /usr/share/zoneinfo/NAME, replaced atomically.
    if (!plan.timezone.empty()) {
        std::string link = under(root, "/etc/localtime");
        GANTRY_TRY(make_dirs(parent_of(link), 0755));
        std::string tmp = link + ".gantry-tmp";
        ::unlink(tmp.c_str());
        std::string target = "/usr/share/zoneinfo/" + plan.timezone;
        if (::symlink(target.c_str(), tmp.c_str()) < 0) {
            return fail(Error::sys("symlink '{}' -> '{}'", tmp, target));
        }
        if (::rename(tmp.c_str(), link.c_str()) < 0) {
            return fail(Error::sys("rename '{}' to '{}'", tmp, link));
        }
    }
    // 3. Directories, parents first, then their owner (a home made by mkdir is root's).
    for (const auto& d : plan.dirs) {
        std::string p = under(root, d.path);
        GANTRY_TRY(make_dirs(p, d.mode));
        if (options.change_owner && ::chown(p.c_str(), d.uid, d.gid) < 0) {
            return fail(Error::sys("chown '{}'", p));
        }
    }
    // 4. Files: whole and atomic; an append reads the old content and writes both.
    for (const auto& f : plan.files) {
        std::string p = under(root, f.path);
        GANTRY_TRY(make_dirs(parent_of(p), 0755));
        std::string data = f.data;
        if (f.append) {
            std::string old = GANTRY_TRY(read_optional(p));
            data = old + data;
        }
        GANTRY_TRY(write_file_exact(p, data, f.mode, f.uid, f.gid, options.change_owner));
    }
    return ok();
}

}  // namespace gantry::config
