// gantry-oci start: connect to the created container's start.sock and let it execve.
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fd.h"
#include "runtime/child.h"
#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

namespace {

Status start(const Globals& g, const std::string& id) {
    StateDir sd(g.root);
    ContainerState st = GANTRY_TRY(sd.load(id));
    std::string status = sd.status(st);
    if (status != "created") {
        return fail(
            Error::msg("container \"{}\" is {}, not created: it cannot be started", id, status));
    }
    std::string path = sd.start_socket(id);
    struct sockaddr_un addr;
    ::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    ::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    if (::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
        if (errno == ECONNREFUSED || errno == ENOENT) {
            return fail(Error::msg("container \"{}\" is already started", id));
        }
        return fail(Error::sys("connect '{}'", path));
    }
    // Unlinked before the go byte: from here on `state` reads "running", and a second
    // start finds no socket.
    ::unlink(path.c_str());
    GANTRY_TRY(write_all(fd.get(), "s"));
    ChildMsg m;
    ssize_t n = ::recv(fd.get(), &m, sizeof m, MSG_WAITALL);
    if (n == static_cast<ssize_t>(sizeof m) && m.kind == ChildMsg::kError) {
        return fail(child_error(m, nullptr));
    }
    return ok();  // EOF: the connection closed on execve (O_CLOEXEC)
}

}  // namespace

int cmd_start(const Globals& g, int argc, char** argv) {
    if (argc != 2) {
        return usage_error("start", "usage: start ID");
    }
    if (auto r = start(g, argv[1]); !r) {
        return report("start", r.error());
    }
    return 0;
}

}  // namespace gantry::runtime::cli
