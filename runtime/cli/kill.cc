// gantry-oci kill ID [SIGNAL]: signal the init through a pidfd, never a bare pid.
#include <signal.h>

#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

int cmd_kill(const Globals& g, int argc, char** argv) {
    // runc's --all is accepted: the pid namespace's init dying takes every process with it.
    int first = 1;
    if (argc > 1 && (std::string_view(argv[1]) == "--all" || std::string_view(argv[1]) == "-a")) {
        first = 2;
    }
    if (argc - first < 1 || argc - first > 2) {
        return usage_error("kill", "usage: kill ID [SIGNAL]");
    }
    int sig = SIGTERM;
    if (argc - first == 2) {
        auto s = parse_signal(argv[first + 1]);
        if (!s) {
            return report("kill", s.error());
        }
        sig = *s;
    }
    StateDir sd(g.root);
    auto st = sd.load(argv[first]);
    if (!st) {
        return report("kill", st.error());
    }
    auto pfd = sd.open_init(*st);
    if (!pfd) {
        return report("kill", pfd.error());
    }
    if (!pfd->has_value()) {
        return report("kill", Error::msg("container \"{}\" is stopped", st->id));
    }
    if (auto r = (*pfd)->send_signal(sig); !r) {
        return report("kill", r.error());
    }
    return 0;
}

}  // namespace gantry::runtime::cli
