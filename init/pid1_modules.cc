#include "init/pid1_modules.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

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

namespace {

// 0 when loaded now, else the errno (EEXIST: built in or already loaded).
int load_one(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    // glibc has no wrapper for finit_module.
    long rc = ::syscall(SYS_finit_module, fd, "", 0);
    int err = errno;
    ::close(fd);
    return rc == 0 ? 0 : err;
}

}  // namespace

ModuleResult load_modules(const std::vector<std::string>& paths) {
    ModuleResult r;
    for (const auto& p : paths) {
        int err = load_one(p);
        if (err == 0) {
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

namespace gantry::init {

std::string module_name(std::string_view name) {
    std::string n(name);
    for (char& c : n) {
        if (c == '-') {
            c = '_';
        }
    }
    return n;
}

ModuleIndex parse_module_index(std::string_view text) {
    ModuleIndex index;
    for (const auto& line : parse_module_list(text)) {
        std::vector<std::string> words;
        for (const auto& w : split(line, ' ')) {
            if (!trim(w).empty()) {
                words.emplace_back(trim(w));
            }
        }
        if (words.size() < 2) {
            continue;
        }
        ModuleIndex::Entry e;
        if (words[1] != "builtin") {
            e.path = words[1];
            for (size_t i = 2; i < words.size(); ++i) {
                e.depends.push_back(module_name(words[i]));
            }
        }
        index.modules[module_name(words[0])] = std::move(e);
    }
    return index;
}

Result<std::vector<std::string>> module_files(const ModuleIndex& index, std::string_view name) {
    std::vector<std::string> out;
    std::vector<std::string> visiting;
    std::function<Status(const std::string&)> visit = [&](const std::string& n) -> Status {
        auto it = index.modules.find(n);
        if (it == index.modules.end()) {
            return fail(
                Error::msg(n == module_name(name)
                               ? "not in this OS image (neither shipped nor built in)"
                               : fmt::format("its dependency {} is not in this OS image", n)));
        }
        const auto& e = it->second;
        if (e.path.empty() || std::find(out.begin(), out.end(), e.path) != out.end()) {
            return ok();
        }
        if (std::find(visiting.begin(), visiting.end(), n) != visiting.end()) {
            return fail(Error::msg("dependency cycle through {}", n));
        }
        visiting.push_back(n);
        for (const auto& d : e.depends) {
            GANTRY_TRY(visit(d));
        }
        visiting.pop_back();
        out.push_back(e.path);
        return ok();
    };
    GANTRY_TRY(visit(module_name(name)));
    return out;
}

std::string_view to_string(ModuleOutcome o) {
    switch (o) {
        case ModuleOutcome::loaded:
            return "loaded";
        case ModuleOutcome::already_loaded:
            return "already loaded";
        case ModuleOutcome::builtin:
            return "built in";
        case ModuleOutcome::failed:
            return "failed";
    }
    return "?";
}

std::vector<NamedModule> load_named_modules(const ModuleIndex& index,
                                            const std::vector<std::string>& names) {
    std::vector<NamedModule> out;
    for (const auto& raw : names) {
        NamedModule r{module_name(raw), ModuleOutcome::failed, ""};
        auto files = module_files(index, r.name);
        if (!files) {
            r.error = files.error().str();
        } else if (files->empty()) {
            r.outcome = ModuleOutcome::builtin;
        } else {
            // Dependencies first; the named module is the last file. Its own EEXIST means
            // it was loaded before (by the image's lists, or twice in the config).
            r.outcome = ModuleOutcome::already_loaded;
            for (const auto& f : *files) {
                int err = load_one(f);
                bool last = &f == &files->back();
                if (err == 0 && last) {
                    r.outcome = ModuleOutcome::loaded;
                } else if (err != 0 && err != EEXIST) {
                    r.outcome = ModuleOutcome::failed;
                    r.error = fmt::format("{}: {}", f, std::strerror(err));
                    break;
                }
            }
        }
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace gantry::init
