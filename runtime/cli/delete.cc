// gantry-oci delete [--force] ID: remove a stopped container (with --force, stop it first).
#include <poll.h>
#include <signal.h>

#include "runtime/cli/common.h"
#include "runtime/security_steps.h"

namespace gantry::runtime::cli {

namespace {

Status remove(const Globals& g, const std::string& id, bool force) {
    StateDir sd(g.root);
    ContainerState st = GANTRY_TRY(sd.load(id));
    auto pfd = GANTRY_TRY(sd.open_init(st));
    if (pfd) {
        if (!force) {
            return fail(Error::msg("container \"{}\" is {}; stop it first or use --force", id,
                                   sd.status(st)));
        }
        GANTRY_TRY(pfd->send_signal(SIGKILL));
        // A pidfd polls readable once the process has exited; we cannot waitid() for it,
        // it is not our child.
        struct pollfd p = {pfd->fd(), POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) {
            return fail(Error::msg("container \"{}\" did not exit after SIGKILL", id));
        }
    }
    GANTRY_TRY(cgroup_kill_and_remove(st.cgroup_path));
    return sd.remove(id);
}

}  // namespace

int cmd_delete(const Globals& g, int argc, char** argv) {
    bool force = false;
    std::string id;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--force" || a == "-f") {
            force = true;
        } else if (id.empty() && !a.starts_with("-")) {
            id = argv[i];
        } else {
            return usage_error("delete", "usage: delete [--force] ID");
        }
    }
    if (id.empty()) {
        return usage_error("delete", "usage: delete [--force] ID");
    }
    if (auto r = remove(g, id, force); !r) {
        return report("delete", r.error());
    }
    return 0;
}

}  // namespace gantry::runtime::cli
