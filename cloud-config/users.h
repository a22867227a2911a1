// /etc/passwd, /etc/group and /etc/shadow as data: read, add users from the config, write.
//
// Pure text in, text out, so the merge is unit-tested without root and the host plan writes
// each file whole and atomically.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cloud-config/model.h"

namespace gantry::config {

struct PasswdEntry {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string gecos;
    std::string home;
    std::string shell;
};

struct GroupEntry {
    std::string name;
    gid_t gid = 0;
    std::vector<std::string> members;
};

struct ShadowEntry {
    std::string name;
    std::string hash;
    std::string rest = "19000:0:99999:7:::";  // lastchg:min:max:warn:inactive:expire:reserved
};

class UserDb {
  public:
    // Parses the three files; malformed lines are errors naming the file and line.
    static Result<UserDb> parse(std::string_view passwd, std::string_view group,
                                std::string_view shadow);

    // Adds or updates `u`: a new user gets the next free uid >= 1000 and a personal group;
    // missing supplementary groups are created; a passwd hash replaces the shadow entry.
    void apply(const User& u);

    std::optional<uid_t> uid_of(std::string_view name) const;
    std::optional<gid_t> gid_of_group(std::string_view name) const;
    const PasswdEntry* user(std::string_view name) const;

    std::string passwd_text() const;
    std::string group_text() const;
    std::string shadow_text() const;

  private:
    GroupEntry* group(std::string_view name);
    gid_t next_gid() const;
    uid_t next_uid() const;

    std::vector<PasswdEntry> passwd_;
    std::vector<GroupEntry> group_;
    std::vector<ShadowEntry> shadow_;
};

// Resolves "user[:group]" (names or numbers) against `db`. Without a group, the user's
// primary group.
Result<std::pair<uid_t, gid_t>> resolve_owner(const UserDb& db, std::string_view owner);

}  // namespace gantry::config
