// The services gantry-init runs: the cloud-config found at boot (PID 1) or named on the
// command line (host mode), mapped to ServiceSpecs with their images looked up, plus what
// the `config` API request reports (which source won, what was refused and why).
//
// Never half a config (issue 4): a config that fails validation is refused whole, its
// errors go to the console and the API, and the last good config runs instead, or none.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cloud-config/model.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

struct BootConfigOptions {
    bool pid1 = false;
    // Host mode: the YAML file (or a legacy services .json). PID 1: ignored unless set, then
    // used as gantry.config= would be (a path given on the init's command line).
    std::string config_path;
    // Where the last good config lives: /var/lib/gantry (PID 1), <state-dir> (host mode).
    std::string state_dir = "/var/lib/gantry";
    std::string store_dir = "/var/lib/gantry/images";
    std::string volumes_dir = "/var/lib/gantry/volumes";
    // PID 1: mount points of config drives (mounted by the init's machine steps).
    std::vector<std::string> config_drives;
};

struct BootConfig {
    config::Config config;  // the accepted one (empty when none)
    std::vector<ServiceSpec> services;
    bool have_config = false;  // false: no services, and `report.message` says why
    nlohmann::json report;     // {"source":{kind,location}, "refused":..., "errors":[...],
                               //  "message":..., "services":[{name,image,image_error}]}
};

// Loads, checks and maps; logs the outcome (errors one per line). Never fails: the worst
// case is an empty config whose report says what happened.
BootConfig load_boot_config(const BootConfigOptions& opts);

// Fills report["services"] from the specs the supervisor actually loaded.
void report_services(nlohmann::json& report, const std::vector<ServiceSpec>& specs);

}  // namespace gantry::supervisor
