#include "supervisor/boot_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "base/fd.h"
#include "base/log.h"
#include "cloud-config/sources.h"
#include "supervisor/from_config.h"
#include "supervisor/image_fetcher.h"
#include "supervisor/load_services.h"

namespace gantry::supervisor {

using json = nlohmann::json;

namespace {

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

// Milliseconds since `t0`, for the debug log's profile of the config step.
double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string absolute(const std::string& path) {
    if (path.starts_with('/')) {
        return path;
    }
    char cwd[4096];
    return ::getcwd(cwd, sizeof cwd) ? std::string(cwd) + "/" + path : path;
}

json source_json(const config::Source& s, bool host_file) {
    if (s.kind == config::SourceKind::none) {
        return nullptr;
    }
    // Host mode hands the file over as a kernel command line would; say what it really is.
    std::string kind = host_file && s.kind == config::SourceKind::kernel_cmdline
                           ? "file"
                           : std::string(config::to_string(s.kind));
    return json{{"kind", kind}, {"location", s.location}};
}

// The old JSON service file (tests, and trying the supervisor without images).
BootConfig load_legacy_json(const std::string& path) {
    BootConfig b;
    b.report = {{"source", {{"kind", "file"}, {"location", path}}},
                {"refused", nullptr},
                {"errors", json::array()}};
    auto specs = load_services(path);
    if (!specs) {
        b.report["source"] = nullptr;
        b.report["refused"] = {{"kind", "file"}, {"location", path}};
        b.report["errors"].push_back(specs.error().str());
        b.report["message"] = fmt::format("refused {}: no services", path);
        log::error("config refused", {{"file", path}, {"error", specs.error().str()}});
        return b;
    }
    b.services = std::move(*specs);
    b.have_config = true;
    b.report["message"] = fmt::format("services from {} (JSON service file)", path);
    // "kv": {"backend": "etcd", "endpoints": [...]} as in the cloud-config, for the
    // discovery tests with host processes.
    if (auto text = read_file(path)) {
        json j = json::parse(*text, nullptr, false);
        if (j.is_object() && j.contains("kv") && j["kv"].is_object()) {
            const json& kv = j["kv"];
            if (kv.value("backend", "embedded") == "etcd") {
                b.config.kv.backend = config::KvBackend::etcd;
            }
            for (const auto& e : kv.value("endpoints", json::array())) {
                if (e.is_string()) {
                    b.config.kv.endpoints.push_back(e.get<std::string>());
                }
            }
        }
    }
    return b;
}

}  // namespace

void report_services(json& report, const std::vector<ServiceSpec>& specs) {
    json list = json::array();
    for (const auto& s : specs) {
        json e = {{"name", s.name}, {"image", s.image}, {"argv", s.argv}};
        if (!s.image_error.empty()) {
            e["image_error"] = s.image_error;
        }
        if (s.pending_image) {
            e["image_pending"] = true;  // not in the store at load: fetched by the helper
        }
        list.push_back(std::move(e));
    }
    report["services"] = std::move(list);
}

BootConfig load_boot_config(const BootConfigOptions& opts) {
    if (opts.config_path.ends_with(".json")) {
        return load_legacy_json(opts.config_path);
    }
    config::SourcePaths paths;
    paths.state_dir = opts.state_dir;
    paths.config_drives = opts.config_drives;
    bool host_file = false;
    if (!opts.pid1) {
        // Host mode: the named file is the only source; never the host's /proc/cmdline or
        // fw_cfg. It goes through load_config as a gantry.config= path, so the refusal and
        // last-good rules are exactly the boot's.
        host_file = true;
        std::string cmdline = opts.state_dir + "/host-mode-cmdline";
        ::mkdir(opts.state_dir.c_str(), 0755);
        if (auto st = write_file_atomic(cmdline,
                                        "gantry.config=" + absolute(opts.config_path) + "\n", 0600);
            !st) {
            log::error("cannot write the host-mode source file", {{"error", st.error().str()}});
        }
        paths.cmdline = cmdline;
        paths.fw_cfg = opts.state_dir + "/no-fw-cfg";
        paths.root = "";
    }
    const auto t_read = std::chrono::steady_clock::now();
    config::Loaded loaded = config::load_config(paths);
    const double read_ms = ms_since(t_read);
    BootConfig b;
    b.report = {{"source", source_json(loaded.source, host_file)},
                {"refused", source_json(loaded.refused, host_file)},
                {"errors", json::array()},
                {"message", loaded.message}};
    for (const auto& d : loaded.refused_errors) {
        b.report["errors"].push_back(d.str());
        log::error("config error", {{"error", d.str()}});
    }
    if (loaded.refused.kind != config::SourceKind::none ||
        loaded.source.kind == config::SourceKind::none) {
        log::error(loaded.message);
    } else {
        log::info(loaded.message);
    }
    if (loaded.source.kind == config::SourceKind::none) {
        report_services(b.report, {});
        return b;
    }
    FromConfigOptions fo;
    fo.base_dir = loaded.source.location.starts_with('/') ? dir_of(loaded.source.location) : "/";
    fo.volumes_dir = opts.volumes_dir;
    std::string store_dir = opts.store_dir;
    double lookup_ms = 0;
    int lookups = 0;
    fo.lookup = [store_dir, &lookup_ms,
                 &lookups](std::string_view ref) -> Result<image::ContainerConfig> {
        const auto t0 = std::chrono::steady_clock::now();
        struct Tally {
            double& ms;
            std::chrono::steady_clock::time_point t0;
            ~Tally() { ms += ms_since(t0); }
        } tally{lookup_ms, t0};
        ++lookups;
        image::Store store = GANTRY_TRY(image::Store::open(store_dir));
        // The store only: a missing image (ENOENT) leaves the service pending, and the
        // supervisor has the image helper fetch it without blocking the boot.
        image::Image img = GANTRY_TRY(load_local(store, ref));
        return img.config.config;
    };
    const auto t_services = std::chrono::steady_clock::now();
    auto specs = services_from_config(loaded.config, fo);
    // Where the config step's time goes (docs/os-image.md, issue 6): the read, parse and
    // checks of the source, then the services with their image lookups in the store.
    log::debug("config step timings", {{"read_parse_check_ms", read_ms},
                                       {"services_ms", ms_since(t_services)},
                                       {"image_lookups", lookups},
                                       {"image_lookups_ms", lookup_ms}});
    if (!specs) {
        // A config problem only visible on this machine (an unreadable env_file): nothing
        // of the config is run, as with a refused one.
        b.report["errors"].push_back(specs.error().str());
        b.report["message"] =
            fmt::format("config from {} not run: {}", loaded.source.location, specs.error().str());
        log::error("config not run", {{"error", specs.error().str()}});
        report_services(b.report, {});
        return b;
    }
    for (const auto& s : *specs) {
        if (!s.image_error.empty()) {
            log::error("service image not available",
                       {{"service", s.name}, {"error", s.image_error}});
        }
    }
    b.config = std::move(loaded.config);
    b.services = std::move(*specs);
    b.have_config = true;
    report_services(b.report, b.services);
    return b;
}

}  // namespace gantry::supervisor
