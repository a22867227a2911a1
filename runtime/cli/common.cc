#include "runtime/cli/common.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include "base/fd.h"

namespace gantry::runtime::cli {

int report(std::string_view cmd, const Error& e) {
    fmt::print(stderr, "gantry-oci {}: {}\n", cmd, e.str());
    return 1;
}

int usage_error(std::string_view cmd, std::string_view msg) {
    fmt::print(stderr, "gantry-oci {}: {}\n", cmd, msg);
    return 2;
}

Result<CreateArgs> parse_create_args(int argc, char** argv) {
    CreateArgs a;
    static const struct option opts[] = {
        {"bundle", required_argument, nullptr, 'b'},
        {"pid-file", required_argument, nullptr, 'p'},
        {"console-socket", required_argument, nullptr, 'c'},
        {"no-pivot", no_argument, nullptr, 'n'},
        {nullptr, 0, nullptr, 0},
    };
    optind = 1;
    int c;
    while ((c = ::getopt_long(argc, argv, "+b:", opts, nullptr)) != -1) {
        switch (c) {
            case 'b':
                a.bundle = optarg;
                break;
            case 'p':
                a.pid_file = optarg;
                break;
            case 'c':
                return fail(Error::msg(
                    "--console-socket: terminals are not supported (process.terminal must be "
                    "false)"));
            case 'n':
                return fail(Error::msg("--no-pivot: not supported; gantry-oci always pivots"));
            default:
                return fail(
                    Error::msg("unknown option; usage: [--bundle DIR] [--pid-file FILE] ID"));
        }
    }
    if (optind + 1 != argc) {
        return fail(Error::msg("expected exactly one container ID"));
    }
    a.id = argv[optind];
    return a;
}

namespace {

Result<Fd> listen_start_socket(const std::string& path) {
    struct sockaddr_un addr;
    ::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return fail(Error::msg(
            "state path '{}' is too long for a unix socket; use a shorter --root", path));
    }
    ::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
        return fail(Error::sys("bind '{}'", path));
    }
    if (::listen(fd.get(), 4) < 0) {
        return fail(Error::sys("listen '{}'", path));
    }
    return fd;
}

Result<Container> create_inner(const Globals& g, const CreateArgs& a, bool start_socket,
                               const StateDir& sd) {
    char* real = ::realpath(a.bundle.c_str(), nullptr);
    if (real == nullptr) {
        return fail(Error::sys("bundle '{}'", a.bundle));
    }
    std::string bundle = real;
    ::free(real);
    Spec spec = GANTRY_TRY(load_bundle(bundle));

    ContainerOptions opts;
    opts.id = a.id;
    opts.bundle = bundle;
    Fd sock;
    if (start_socket) {
        sock = GANTRY_TRY(listen_start_socket(sd.start_socket(a.id)));
        opts.start_listen_fd = sock.get();
    }
    Container c = GANTRY_TRY(Container::create(spec, opts));
    if (g.debug) {
        for (const auto& n : c.notes()) {
            fmt::print(stderr, "gantry-oci: note: {}\n", n);
        }
    }

    ContainerState st;
    st.oci_version = spec.oci_version;
    st.id = a.id;
    st.pid = c.pid();
    st.start_time = process_start_time(c.pid());
    st.bundle = bundle;
    st.cgroup_path = c.cgroup_path();
    st.created = now_rfc3339();
    st.annotations = spec.annotations;
    GANTRY_TRY(sd.save(st));
    if (!a.pid_file.empty()) {
        GANTRY_TRY(write_file_atomic(a.pid_file, fmt::format("{}", c.pid())));
    }
    return c;
}

}  // namespace

Result<Container> create_container(const Globals& g, const CreateArgs& a, bool start_socket) {
    StateDir sd(g.root);
    GANTRY_TRY(sd.reserve(a.id));
    auto c = create_inner(g, a, start_socket, sd);
    if (!c) {
        (void)sd.remove(a.id);  // no side effect on failure (OCI runtime CLI spec)
    }
    return c;
}

Result<int> parse_signal(std::string_view s) {
    if (s.empty()) {
        return fail(Error::msg("empty signal"));
    }
    if (s[0] >= '0' && s[0] <= '9') {
        int v = 0;
        for (char ch : s) {
            if (ch < '0' || ch > '9') {
                return fail(Error::msg("signal \"{}\": not a number or a name", s));
            }
            v = v * 10 + (ch - '0');
        }
        if (v <= 0 || v >= NSIG) {
            return fail(Error::msg("signal {} is out of range", v));
        }
        return v;
    }
    if (s.rfind("SIG", 0) == 0) {
        s.remove_prefix(3);
    }
    for (int sig = 1; sig < NSIG; sig++) {
        const char* name = ::sigabbrev_np(sig);
        if (name != nullptr && s == name) {
            return sig;
        }
    }
    return fail(Error::msg("unknown signal \"{}\"", s));
}

}  // namespace gantry::runtime::cli
