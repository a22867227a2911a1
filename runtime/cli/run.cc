// gantry-oci run: create + start + wait, then delete; exits with the container's status
// (128 + signal when it was killed, as a shell reports it).
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/cli/common.h"
#include "runtime/security_steps.h"

namespace gantry::runtime::cli {

namespace {

int g_pidfd = -1;

// Signals sent to `gantry-oci run` are meant for the container (runc forwards them too).
void forward(int sig) {
    if (g_pidfd >= 0) {
        ::syscall(SYS_pidfd_send_signal, g_pidfd, sig, nullptr, 0);
    }
}

}  // namespace

int cmd_run(const Globals& g, int argc, char** argv) {
    auto a = parse_create_args(argc, argv);
    if (!a) {
        return usage_error("run", a.error().str());
    }
    auto c = create_container(g, *a, false);
    if (!c) {
        return report("run", c.error());
    }
    StateDir sd(g.root);
    g_pidfd = c->init().fd();
    struct sigaction sa = {};
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) {
        ::sigaction(sig, &sa, nullptr);
    }
    auto started = c->start();
    int code = 0;
    if (!started) {
        code = report("run", started.error());
    } else if (auto st = c->wait(); !st) {
        code = report("run", st.error());
    } else {
        code = st->kind == ExitStatus::Kind::Exited ? st->code : 128 + st->signal;
    }
    g_pidfd = -1;
    (void)c->destroy();
    (void)sd.remove(a->id);
    return code;
}

}  // namespace gantry::runtime::cli
