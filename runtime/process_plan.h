// Turns an OCI process into the C-string form the container child needs (child.h), and
// finds which namespaces an exec must join.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "runtime/child.h"
#include "runtime/spec.h"

namespace gantry::runtime {

// Owns the strings a ChildPlan points into, so the Process may be a temporary.
struct ProcessStrings {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string oom_score_adj;
};

// Fills argv/envp/PATH, user and groups, rlimits, umask, no_new_privs, cwd and
// oom_score_adj of `plan` from `process`. `strings` must outlive `plan`.
Status fill_process_plan(ChildPlan& plan, const Process& process, ProcessStrings& strings);

// CLONE_NEW* flags of the namespaces where `pid` differs from us (setns on a pidfd refuses
// to "join" the user namespace one is already in).
Result<int> namespaces_to_join(pid_t pid);

// The PATH the child searches: the container env's PATH, else the usual default.
std::string exec_search_path(const std::vector<std::string>& env);

}  // namespace gantry::runtime
