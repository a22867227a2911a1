#include "cloud-config/sources.h"

#include <sys/stat.h>

#include "base/fd.h"
#include "cloud-config/codec.h"
#include "cloud-config/host.h"
#include "cloud-config/parse.h"

namespace gantry::config {
namespace {

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Diagnostics whole_file_error(const std::string& file, std::string message) {
    return {Diagnostic{file, 0, 0, "", std::move(message), ""}};
}

// Parses a source's bytes; user-data that is not a cloud-config gets its own message.
Checked check(const std::string& location, const Result<std::string>& bytes) {
    if (!bytes) {
        return Unexpected(whole_file_error(location, bytes.error().str()));
    }
    if (bytes->rfind("#!", 0) == 0) {
        return Unexpected(whole_file_error(
            location, "this user-data is a script; Gantry reads only a #cloud-config YAML file"));
    }
    if (bytes->rfind("Content-Type:", 0) == 0 || bytes->rfind("MIME-Version:", 0) == 0) {
        return Unexpected(whole_file_error(
            location, "multipart MIME user-data is not supported; give one #cloud-config file"));
    }
    return parse_config(*bytes, location);
}

}  // namespace

std::string_view to_string(SourceKind k) {
    switch (k) {
        case SourceKind::kernel_cmdline:
            return "kernel-cmdline";
        case SourceKind::fw_cfg:
            return "fw_cfg";
        case SourceKind::config_drive:
            return "config-drive";
        case SourceKind::persisted:
            return "persisted";
        case SourceKind::last_good:
            return "last-good";
        case SourceKind::none:
            return "none";
    }
    return "?";
}

std::optional<std::string> cmdline_config_value(std::string_view cmdline) {
    std::optional<std::string> found;
    std::string word;
    bool quoted = false;
    auto flush = [&] {
        constexpr std::string_view key = "gantry.config=";
        if (word.rfind(key, 0) == 0) {
            found = word.substr(key.size());  // the last one wins, as for any kernel parameter
        }
        word.clear();
    };
    for (char c : cmdline) {
        if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && (c == ' ' || c == '\n' || c == '\t')) {
            flush();
        } else {
            word += c;
        }
    }
    flush();
    return found;
}

std::optional<std::string> find_config_drive_file(const std::string& mount_dir) {
    for (const char* rel : {"/user-data", "/openstack/latest/user_data"}) {
        std::string p = mount_dir + rel;
        if (exists(p)) {
            return p;
        }
    }
    return std::nullopt;
}

std::string persisted_path(const SourcePaths& paths) {
    return paths.state_dir + "/config.yaml";
}
std::string last_good_path(const SourcePaths& paths) {
    return paths.state_dir + "/last-good.yaml";
}

std::optional<RawConfig> find_source(const SourcePaths& paths) {
    // 1. The kernel command line: the operator's explicit choice beats everything.
    if (auto cmd = read_file(paths.cmdline)) {
        if (auto v = cmdline_config_value(*cmd)) {
            if (v->rfind("data:", 0) == 0) {
                auto bytes = base64_decode(v->substr(5));
                if (!bytes) {
                    bytes.error().context("gantry.config=data:");
                }
                return RawConfig{{SourceKind::kernel_cmdline, "kernel command line"},
                                 std::move(bytes)};
            }
            std::string path = paths.root + *v;
            return RawConfig{{SourceKind::kernel_cmdline, path}, read_file(path)};
        }
    }
    // 2. fw_cfg: what `gantryctl vm up` and the QEMU tests pass.
    if (exists(paths.fw_cfg)) {
        return RawConfig{{SourceKind::fw_cfg, paths.fw_cfg}, read_file(paths.fw_cfg)};
    }
    // 3. Config drives, in the order the init found them.
    for (const auto& dir : paths.config_drives) {
        if (auto file = find_config_drive_file(dir)) {
            return RawConfig{{SourceKind::config_drive, *file}, read_file(*file)};
        }
    }
    // 4. A copy persisted on the state partition by the operator.
    std::string persisted = persisted_path(paths);
    if (exists(persisted)) {
        return RawConfig{{SourceKind::persisted, persisted}, read_file(persisted)};
    }
    return std::nullopt;
}

bool has_source_before_drives(const SourcePaths& paths) {
    auto cmd = read_file(paths.cmdline);
    return (cmd && cmdline_config_value(*cmd)) || exists(paths.fw_cfg);
}

Status store_last_good(const SourcePaths& paths, std::string_view bytes) {
    std::string path = last_good_path(paths);
    // Skip the write when nothing changed: the state partition is flash on many machines.
    if (auto old = read_file(path); old && *old == bytes) {
        return ok();
    }
    GANTRY_TRY(make_dirs(paths.state_dir, 0700));
    return write_file_atomic(path, bytes, 0600);
}

Loaded load_config(const SourcePaths& paths, bool keep_last_good) {
    Loaded out;
    std::optional<RawConfig> raw = find_source(paths);
    if (raw) {
        Checked c = check(raw->source.location, raw->bytes);
        if (c) {
            out.config = std::move(*c);
            out.source = raw->source;
            out.message = fmt::format("config from {} ({})", raw->source.location,
                                      to_string(raw->source.kind));
            if (!keep_last_good) {
                return out;
            }
            if (auto st = store_last_good(paths, *raw->bytes); !st) {
                out.message += fmt::format("; could not keep it as the last good config: {}",
                                           st.error().str());
            }
            return out;
        }
        out.refused = raw->source;
        out.refused_errors = std::move(c.error());
    }
    std::string refused_note =
        raw ? fmt::format("refused the config from {} ({} error{}); ", raw->source.location,
                          out.refused_errors.size(), out.refused_errors.size() == 1 ? "" : "s")
            : "";
    std::string last = last_good_path(paths);
    if (exists(last)) {
        Checked c = check(last, read_file(last));
        if (c) {
            out.config = std::move(*c);
            out.source = {SourceKind::last_good, last};
            out.message = fmt::format("{}booting the last good config from {}", refused_note, last);
            return out;
        }
        // A last good config that no longer validates (e.g. after an update tightened a
        // rule) is reported too, but never half-used.
        for (auto& d : c.error()) {
            out.refused_errors.push_back(std::move(d));
        }
        refused_note += fmt::format("the last good config {} is invalid too; ", last);
    }
    out.config = Config{};
    out.source = {};
    out.message = raw ? fmt::format(
                            "{}no last good config: booting with no services (the API is "
                            "up; fix the config and reboot)",
                            refused_note)
                      : "no config found (kernel command line, fw_cfg, config drive, "
                        "persisted copy): booting with no services (the API is up)";
    return out;
}

}  // namespace gantry::config
