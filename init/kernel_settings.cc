#include "init/kernel_settings.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "base/strings.h"
#include "init/pid1_modules.h"

namespace gantry::init {

Result<std::string> sysctl_path(std::string_view key, const std::string& proc_sys) {
    std::string k(key);
    size_t sep = k.find_first_of("./");
    if (sep != std::string::npos && k[sep] == '.') {
        for (char& c : k) {
            c = c == '.' ? '/' : (c == '/' ? '.' : c);
        }
    }
    while (k.starts_with('/')) {
        k.erase(0, 1);
    }
    if (k.empty()) {
        return fail(Error::msg("empty sysctl name"));
    }
    for (const auto& part : split(k, '/')) {
        if (part.empty() || part == "." || part == "..") {
            return fail(Error::msg("\"{}\" is not a sysctl name (empty, \".\" or \"..\" part)",
                                   std::string(key)));
        }
        if (part.find('\0') != std::string::npos) {
            return fail(Error::msg("sysctl name holds a NUL byte"));
        }
    }
    return proc_sys + "/" + k;
}

namespace {

std::string write_sysctl(const std::string& key, const std::string& value,
                         const std::string& proc_sys) {
    auto path = sysctl_path(key, proc_sys);
    if (!path) {
        return path.error().str();
    }
    // No O_CREAT: /proc/sys has every sysctl the kernel knows; a missing file is a typo or
    // a module that is not loaded.
    // O_TRUNC as sysctl(8)'s fopen("w"): harmless on /proc/sys, exact on a test's files.
    int fd = ::open(path->c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT) {
            return fmt::format("unknown sysctl (no {})", *path);
        }
        return fmt::format("open {}: {}", *path, std::strerror(err));
    }
    Fd owner(fd);
    ssize_t n = ::write(fd, value.data(), value.size());
    if (n < 0) {
        int err = errno;
        if (err == EINVAL || err == ERANGE) {
            return fmt::format("the kernel refused the value \"{}\" ({})", value,
                               std::strerror(err));
        }
        return fmt::format("write {}: {}", *path, std::strerror(err));
    }
    if (static_cast<size_t>(n) != value.size()) {
        return fmt::format("write {}: only {} of {} bytes taken", *path, n, value.size());
    }
    return "";
}

}  // namespace

KernelReport apply_kernel_settings(const std::vector<std::string>& modules,
                                   const std::map<std::string, std::string>& sysctl,
                                   const KernelPaths& paths) {
    KernelReport r;
    if (!modules.empty()) {
        // 1. Modules. An image without the index (a custom build) can load nothing by name.
        auto text = read_file(paths.module_index);
        ModuleIndex index = text ? parse_module_index(*text) : ModuleIndex{};
        for (auto& m : load_named_modules(index, modules)) {
            KernelItem item{"module", m.name, "", "", m.error};
            if (m.outcome == ModuleOutcome::failed) {
                if (!text) {
                    item.error = fmt::format("{} (cannot read {}: {})", item.error,
                                             paths.module_index, text.error().str());
                }
                r.errors++;
            } else {
                item.result = std::string(to_string(m.outcome));
                r.modules_loaded++;
            }
            r.items.push_back(std::move(item));
        }
    }
    // 2. Sysctls, after the modules that create some of them.
    for (const auto& [key, value] : sysctl) {
        KernelItem item{"sysctl", key, value, "", write_sysctl(key, value, paths.proc_sys)};
        if (item.error.empty()) {
            item.result = "set";
            r.sysctls_set++;
        } else {
            r.errors++;
        }
        r.items.push_back(std::move(item));
    }
    return r;
}

}  // namespace gantry::init
