#include "runtime/process_plan.h"

#include <sched.h>
#include <sys/stat.h>

#include <array>

namespace gantry::runtime {

std::string exec_search_path(const std::vector<std::string>& env) {
    for (const auto& e : env) {
        if (e.rfind("PATH=", 0) == 0) {
            return e.substr(5);
        }
    }
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

Status fill_process_plan(ChildPlan& plan, const Process& process, ProcessStrings& strings) {
    strings.args = process.args;
    strings.env = process.env;
    plan.argv.clear();
    plan.envp.clear();
    for (auto& a : strings.args) {
        plan.argv.push_back(a.data());
    }
    plan.argv.push_back(nullptr);
    for (auto& e : strings.env) {
        plan.envp.push_back(e.data());
    }
    plan.envp.push_back(nullptr);
    plan.path_env = exec_search_path(process.env);
    plan.cwd = process.cwd;
    plan.uid = process.user.uid;
    plan.gid = process.user.gid;
    plan.groups.assign(process.user.additional_gids.begin(), process.user.additional_gids.end());
    plan.umask = process.user.umask.value_or(022);
    plan.no_new_privs = process.no_new_privileges;
    plan.rlimits.clear();
    for (const auto& r : process.rlimits) {
        struct rlimit lim;
        lim.rlim_cur = r.soft;
        lim.rlim_max = r.hard;
        plan.rlimits.emplace_back(r.resource, lim);
    }
    if (process.oom_score_adj) {
        strings.oom_score_adj = std::to_string(*process.oom_score_adj);
        plan.oom_score_adj = strings.oom_score_adj.c_str();
    } else {
        plan.oom_score_adj = nullptr;
    }
    return ok();
}

Result<int> namespaces_to_join(pid_t pid) {
    static constexpr std::array<std::pair<const char*, int>, 7> kNs = {{
        {"user", CLONE_NEWUSER},
        {"mnt", CLONE_NEWNS},
        {"pid", CLONE_NEWPID},
        {"net", CLONE_NEWNET},
        {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS},
        {"cgroup", CLONE_NEWCGROUP},
    }};
    int flags = 0;
    for (const auto& [name, flag] : kNs) {
        struct stat theirs, ours;
        std::string path = fmt::format("/proc/{}/ns/{}", pid, name);
        if (::stat(path.c_str(), &theirs) < 0) {
            return fail(Error::sys("stat {}", path));
        }
        std::string self = fmt::format("/proc/self/ns/{}", name);
        if (::stat(self.c_str(), &ours) < 0) {
            return fail(Error::sys("stat {}", self));
        }
        if (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev) {
            flags |= flag;
        }
    }
    return flags;
}

}  // namespace gantry::runtime
