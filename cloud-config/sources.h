// Where the config comes from at boot, and the "last good config" that keeps a machine
// bootable when a new config is broken.
//
// Sources, first found wins (docs/config.md, "Sources"):
//   1. kernel command line   gantry.config=PATH  or  gantry.config=data:BASE64
//   2. QEMU fw_cfg           /sys/firmware/qemu_fw_cfg/by_name/opt/gantry/config/raw
//   3. config drives         NoCloud (label cidata) user-data, then OpenStack (label config-2)
//                            openstack/latest/user_data, in the order the init mounted them
//   4. persisted copy        /var/lib/gantry/config.yaml
// A config from any of them that fails validation is refused whole; the machine then boots
// /var/lib/gantry/last-good.yaml, or with none, an empty config (no services, API up).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cloud-config/diagnostics.h"

namespace gantry::config {

// Every path is a parameter so tests point them at a temp dir.
struct SourcePaths {
    std::string cmdline = "/proc/cmdline";
    std::string fw_cfg = "/sys/firmware/qemu_fw_cfg/by_name/opt/gantry/config/raw";
    // Mount points of config drives; finding them by label (cidata / config-2) and
    // mounting them is the init's job (init/config_drive.h), this part only reads files.
    std::vector<std::string> config_drives;
    std::string state_dir = "/var/lib/gantry";
    // Prefix for a path given on the kernel command line ("" for the real root).
    std::string root;
};

enum class SourceKind { kernel_cmdline, fw_cfg, config_drive, persisted, last_good, none };

std::string_view to_string(SourceKind k);

struct Source {
    SourceKind kind = SourceKind::none;
    std::string location;  // a path, or "kernel command line"; empty for none
};

// The value of the last gantry.config= on a kernel command line, if any. Quotes ("...")
// group words the way the kernel does.
std::optional<std::string> cmdline_config_value(std::string_view cmdline);

// The user-data file on a mounted config drive: `user-data` (NoCloud) or
// `openstack/latest/user_data` (OpenStack config-2). nullopt when the drive has neither.
std::optional<std::string> find_config_drive_file(const std::string& mount_dir);

// The first source present, and its bytes (or why they could not be read). nullopt: none.
struct RawConfig {
    Source source;
    Result<std::string> bytes;
};
std::optional<RawConfig> find_source(const SourcePaths& paths);

// Whether the kernel command line or fw_cfg names a config: config drives then cannot
// win, and the init need not look for them (nor load virtio_blk to do so).
bool has_source_before_drives(const SourcePaths& paths);

std::string persisted_path(const SourcePaths& paths);
std::string last_good_path(const SourcePaths& paths);

// Keeps `bytes` (an accepted config) as the last good config, atomically.
Status store_last_good(const SourcePaths& paths, std::string_view bytes);

// What the boot runs with: never half a config.
struct Loaded {
    Config config;
    Source source;               // where `config` came from; kind none for the empty config
    Source refused;              // a source whose config was refused; kind none if not
    Diagnostics refused_errors;  // why it was refused
    std::string message;         // one line for the console and the API
};

// Finds, reads and validates the config; on a refused config falls back to the last good
// one, then to an empty config. At boot (`keep_last_good`) an accepted new config is stored
// as the last good one; `gantryctl config show` passes false and changes nothing.
Loaded load_config(const SourcePaths& paths, bool keep_last_good = true);

}  // namespace gantry::config
