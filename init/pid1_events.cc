#include "init/pid1_events.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include "base/strings.h"

namespace gantry::init {

double boottime() {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string find_virtio_port(std::string_view name, const std::string& sysfs_root) {
    std::string dir = sysfs_root + "/class/virtio-ports";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return "";
    }
    std::string found;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        auto text = read_file(dir + "/" + e->d_name + "/name");
        if (text && trim(*text) == name) {
            found = std::string("/dev/") + e->d_name;
            break;
        }
    }
    ::closedir(d);
    return found;
}

std::string json_str(std::string_view s) {
    return json_quote(s);
}

double EventChannel::open(int wait_ms) {
    // A short poll: PID 1 waits here on the path to `ready`, so a coarse step (it was
    // 20 ms) is time lost after the port has appeared.
    const double t0 = boottime();
    for (;;) {
        std::string path = find_virtio_port("gantry.events");
        if (!path.empty()) {
            if (auto fd = Fd::open(path, O_WRONLY | O_NOCTTY)) {
                fd_ = std::move(*fd);
                break;
            }
        }
        if ((boottime() - t0) * 1000 >= wait_ms) {
            break;
        }
        ::usleep(2 * 1000);
    }
    return (boottime() - t0) * 1000;
}

void EventChannel::emit(std::string_view name, std::string_view fields, double t) const {
    std::string line = fmt::format("{{\"event\":{},\"t\":{:.3f}{}{}}}\n", json_str(name), t,
                                   fields.empty() ? "" : ",", fields);
    if (fd_.valid()) {
        (void)write_all(fd_.get(), line);
    }
}

}  // namespace gantry::init
