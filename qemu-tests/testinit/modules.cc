#include "qemu-tests/testinit/modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gantry::testinit {

std::vector<std::string> parse_module_list(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string line = text.substr(start, end - start);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
            line.pop_back();
        }
        if (!line.empty() && line[0] != '#') {
            out.push_back(line);
        }
        start = end + 1;
    }
    return out;
}

ModuleLoadResult load_modules(const std::vector<std::string>& paths) {
    ModuleLoadResult r;
    for (const auto& p : paths) {
        int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            r.failed.push_back(p + ": " + std::strerror(errno));
            continue;
        }
        // glibc has no wrapper for finit_module; params "" and flags 0.
        long rc = syscall(SYS_finit_module, fd, "", 0);
        int err = errno;
        close(fd);
        if (rc == 0) {
            ++r.loaded;
        } else if (err == EEXIST) {
            ++r.already;
        } else if (err == ENODEV) {
            // The driver's hardware is absent (crc32c_intel without SSE4.2 under TCG).
            ++r.no_device;
        } else {
            r.failed.push_back(p + ": " + std::strerror(err));
        }
    }
    return r;
}

}  // namespace gantry::testinit
