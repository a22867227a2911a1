#include "supervisor/api_client.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace gantry::supervisor {

using nlohmann::json;

Result<ApiClient> ApiClient::connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        return fail(Error::msg("socket path too long: {}", path));
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return fail(Error::sys("socket"));
    }
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        return fail(Error::sys("connect to {} (is gantry-init running? use --socket PATH)", path));
    }
    GANTRY_TRY(write_all(fd.get(), std::string(kSessionStart) + "\n"));
    return ApiClient(std::move(fd));
}

Status ApiClient::send_raw(std::string_view bytes) {
    return write_all(fd_.get(), bytes);
}

Result<json> ApiClient::next(Duration timeout) {
    while (true) {
        size_t nl = buf_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            json j = json::parse(line, nullptr, false);
            if (j.is_discarded()) {
                return fail(Error::msg("bad response from server: {}", line.substr(0, 200)));
            }
            return j;
        }
        if (timeout >= Duration(0)) {
            pollfd p{fd_.get(), POLLIN, 0};
            int ms = static_cast<int>(
                std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
            int r = ::poll(&p, 1, ms);
            if (r == 0) {
                return fail(Error::with_errno(ETIMEDOUT, "waiting for the server"));
            }
            if (r < 0 && errno != EINTR) {
                return fail(Error::sys("poll"));
            }
        }
        char tmp[65536];
        ssize_t n = ::read(fd_.get(), tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail(Error::sys("read from server"));
        }
        if (n == 0) {
            return fail(Error::msg("server closed the connection"));
        }
        buf_.append(tmp, static_cast<size_t>(n));
    }
}

Result<json> ApiClient::call(const json& request) {
    GANTRY_TRY(send_raw(request.dump() + "\n"));
    json r = GANTRY_TRY(next());
    if (r.value("ok", false) != true) {
        return fail(Error::msg("{}", r.value("error", std::string("request failed"))));
    }
    return r;
}

}  // namespace gantry::supervisor
