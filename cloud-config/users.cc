#include "cloud-config/users.h"

#include <algorithm>
#include <charconv>

#include "base/strings.h"

namespace gantry::config {
namespace {

constexpr uint32_t kFirstUid = 1000;  // login.defs UID_MIN
constexpr uint32_t kLastUid = 59999;  // login.defs UID_MAX

std::optional<uint32_t> number(std::string_view s) {
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

// Calls fn(line_number, fields) for each non-empty line; fails on a wrong field count.
template <typename Fn>
Status each_line(std::string_view text, std::string_view file, size_t min_fields, Fn fn) {
    size_t n = 0;
    for (const auto& line : split(text, '\n')) {
        ++n;
        if (trim(line).empty()) {
            continue;
        }
        std::vector<std::string> f = split(line, ':');
        if (f.size() < min_fields) {
            return fail(Error::msg("{} line {}: expected {} fields separated by ':', found {}",
                                   file, n, min_fields, f.size()));
        }
        GANTRY_TRY(fn(n, f));
    }
    return ok();
}

}  // namespace

Result<UserDb> UserDb::parse(std::string_view passwd, std::string_view group,
                             std::string_view shadow) {
    UserDb db;
    GANTRY_TRY(each_line(passwd, "/etc/passwd", 7, [&](size_t n, auto& f) -> Status {
        auto uid = number(f[2]);
        auto gid = number(f[3]);
        if (!uid || !gid) {
            return fail(Error::msg("/etc/passwd line {}: uid and gid must be numbers", n));
        }
        db.passwd_.push_back(PasswdEntry{f[0], *uid, *gid, f[4], f[5], f[6]});
        return ok();
    }));
    GANTRY_TRY(each_line(group, "/etc/group", 4, [&](size_t n, auto& f) -> Status {
        auto gid = number(f[2]);
        if (!gid) {
            return fail(Error::msg("/etc/group line {}: gid must be a number", n));
        }
        GroupEntry g{f[0], *gid, {}};
        if (!f[3].empty()) {
            g.members = split(f[3], ',');
        }
        db.group_.push_back(std::move(g));
        return ok();
    }));
    GANTRY_TRY(each_line(shadow, "/etc/shadow", 2, [&](size_t, auto& f) -> Status {
        std::vector<std::string> rest(f.begin() + 2, f.end());
        db.shadow_.push_back(ShadowEntry{f[0], f[1], join(rest, ":")});
        return ok();
    }));
    return db;
}

GroupEntry* UserDb::group(std::string_view name) {
    auto it = std::find_if(group_.begin(), group_.end(),
                           [&](const GroupEntry& g) { return g.name == name; });
    return it == group_.end() ? nullptr : &*it;
}

uid_t UserDb::next_uid() const {
    uid_t next = kFirstUid;
    for (const auto& p : passwd_) {
        if (p.uid >= next && p.uid <= kLastUid) {
            next = p.uid + 1;
        }
    }
    return next;
}

gid_t UserDb::next_gid() const {
    gid_t next = kFirstUid;
    for (const auto& g : group_) {
        if (g.gid >= next && g.gid <= kLastUid) {
            next = g.gid + 1;
        }
    }
    return next;
}

void UserDb::apply(const User& u) {
    auto it = std::find_if(passwd_.begin(), passwd_.end(),
                           [&](const PasswdEntry& p) { return p.name == u.name; });
    if (it == passwd_.end()) {
        // A personal group with the same number as the user when it is free, as useradd does.
        // root is uid 0 by definition, even in a root dir whose /etc/passwd is empty.
        uid_t uid = u.name == "root" ? 0 : next_uid();
        gid_t gid = u.name == "root" ? 0 : std::max<gid_t>(uid, next_gid());
        if (GroupEntry* g = group(u.name)) {
            gid = g->gid;
        } else {
            group_.push_back(GroupEntry{u.name, gid, {}});
        }
        passwd_.push_back(PasswdEntry{u.name, uid, gid, "", u.home, u.shell});
    } else {
        it->home = u.home;
        it->shell = u.shell;
    }
    for (const auto& gname : u.groups) {
        GroupEntry* g = group(gname);
        if (!g) {
            group_.push_back(GroupEntry{gname, next_gid(), {}});
            g = &group_.back();
        }
        if (std::find(g->members.begin(), g->members.end(), u.name) == g->members.end()) {
            g->members.push_back(u.name);
        }
    }
    // "!" locks password login; SSH keys still work (sshd checks the account, not the hash).
    std::string hash = u.passwd.empty() ? "!" : u.passwd;
    auto s = std::find_if(shadow_.begin(), shadow_.end(),
                          [&](const ShadowEntry& e) { return e.name == u.name; });
    if (s == shadow_.end()) {
        shadow_.push_back(ShadowEntry{u.name, hash});
    } else if (!u.passwd.empty()) {
        s->hash = u.passwd;
    }
}

const PasswdEntry* UserDb::user(std::string_view name) const {
    auto it = std::find_if(passwd_.begin(), passwd_.end(),
                           [&](const PasswdEntry& p) { return p.name == name; });
    return it == passwd_.end() ? nullptr : &*it;
}

std::optional<uid_t> UserDb::uid_of(std::string_view name) const {
    const PasswdEntry* p = user(name);
    return p ? std::optional<uid_t>(p->uid) : std::nullopt;
}

std::optional<gid_t> UserDb::gid_of_group(std::string_view name) const {
    for (const auto& g : group_) {
        if (g.name == name) {
            return g.gid;
        }
    }
    return std::nullopt;
}

std::string UserDb::passwd_text() const {
    std::string out;
    for (const auto& p : passwd_) {
        out += fmt::format("{}:x:{}:{}:{}:{}:{}\n", p.name, p.uid, p.gid, p.gecos, p.home, p.shell);
    }
    return out;
}

std::string UserDb::group_text() const {
    std::string out;
    for (const auto& g : group_) {
        out += fmt::format("{}:x:{}:{}\n", g.name, g.gid, join(g.members, ","));
    }
    return out;
}

std::string UserDb::shadow_text() const {
    std::string out;
    for (const auto& s : shadow_) {
        out += fmt::format("{}:{}:{}\n", s.name, s.hash, s.rest);
    }
    return out;
}

Result<std::pair<uid_t, gid_t>> resolve_owner(const UserDb& db, std::string_view owner) {
    auto colon = owner.find(':');
    std::string_view uname = owner.substr(0, colon);
    std::optional<uid_t> uid = number(uname);
    std::optional<gid_t> gid;
    if (!uid && uname == "root" && !db.user("root")) {
        uid = 0;  // root is uid 0 even on a root dir whose /etc/passwd does not list it yet
        gid = 0;
    }
    if (!uid) {
        const PasswdEntry* p = db.user(uname);
        if (!p) {
            return fail(
                Error::msg("owner \"{}\": no user \"{}\" in /etc/passwd or users", owner, uname));
        }
        uid = p->uid;
        gid = p->gid;
    }
    if (colon != std::string_view::npos) {
        std::string_view gname = owner.substr(colon + 1);
        gid = number(gname);
        if (!gid) {
            gid = db.gid_of_group(gname);
            if (!gid && gname == "root") {
                gid = 0;
            }
            if (!gid) {
                return fail(
                    Error::msg("owner \"{}\": no group \"{}\" in /etc/group", owner, gname));
            }
        }
    }
    if (!gid) {
        gid = *uid;  // a bare uid: the group of the same number (useradd gives users one)
    }
    return std::pair{*uid, *gid};
}

}  // namespace gantry::config
