#include "init/pid1_modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::init {

std::vector<std::string> parse_module_list(std::string_view text) {
    std::vector<std::string> out;
    for (const auto& raw : split(text, '\n')) {
        auto line = trim(raw);
        if (!line.empty() && line[0] != '#') {
            out.emplace_back(line);
        }
    }
    return out;
}

ModuleResult load_modules(const std::vector<std::string>& paths) {
    ModuleResult r;
    for (const auto& p : paths) {
        int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            r.failed.push_back(p + ": " + std::strerror(errno));
            continue;
        }
        // glibc has no wrapper for finit_module.
        long rc = ::syscall(SYS_finit_module, fd, "", 0);
        int err = errno;
        ::close(fd);
        if (rc == 0) {
            r.loaded++;
        } else if (err != EEXIST && err != ENODEV) {
            r.failed.push_back(p + ": " + std::strerror(err));
        }
    }
    return r;
}

ModuleResult load_module_file(const std::string& list_path) {
    auto text = read_file(list_path);
    if (!text) {
        return {};  // an image without modules (host tests, a custom kernel)
    }
    return load_modules(parse_module_list(*text));
}

}  // namespace gantry::init
