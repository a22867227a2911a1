// A QEMU test case is a folder: config.yaml (the cloud-config the guest gets through
// fw_cfg) and `checks`, a few lines saying how to boot and what must happen:
//
//   image test                 # OS image under the image root: test (gantry-testinit) or
//                              # gantry (gantry-init); default gantry
//   timeout 60s                # default for every wait below
//   disk 64M                   # a blank raw disk, attached as the next /dev/vdX
//   append gantry.debug=1      # more kernel command line
//   memory 512 | network       # VM size; a NIC with user networking
//   config_drive iso cidata    # config.yaml goes on a config drive instead of fw_cfg:
//                              # iso (genisoimage) or vfat (mkfs.vfat + mtools), labelled
//                              # cidata (NoCloud user-data) or config-2 (OpenStack layout),
//                              # attached after the blank disks; may be repeated
//
//   console "GANTRY-TEST: ready"            # wait for text on the serial console
//   event ready                             # wait for an event on gantry.events
//   event config sha256=${config_sha256}    # ... whose fields have these values
//   event service "detail~=OOM-killed"      # ... or contain this text
//   power_button                            # press the ACPI power button
//   exit 0                                  # QEMU exits with this code
//   no_console "Oops"                       # at the end: text never seen
//
// Any wait takes `timeout=DURATION`. ${config_sha256} and ${config_bytes} are the
// config file's. Every run also fails on "Kernel panic" on the console.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "qemu-tests/harness/vm.h"

namespace gantry::qemu {

struct Step {
    int line = 0;
    std::string verb;               // console, event, power_button, exit, no_console
    std::vector<std::string> args;  // after variable expansion
    Duration timeout{0};            // 0: the case default
};

struct Case {
    std::string name;
    std::string dir;
    std::string image = "gantry";
    Duration timeout{60000};
    std::vector<uint64_t> disks;  // sizes in bytes
    std::string append;
    int memory_mb = 512;
    bool network = false;
    struct Drive {
        std::string fs;     // "iso" or "vfat"
        std::string label;  // "cidata" or "config-2"
    };
    std::vector<Drive> drives;  // config drives, in order; none: config.yaml by fw_cfg
    std::vector<Step> steps;
};

// {NAME, "key=value", "key~=text", ...}: the event has that name, and each field that
// value (strings unquoted, the rest as JSON) or a value containing that text.
bool event_matches(const Event& e, const std::vector<std::string>& spec);

// Parses a checks file; `vars` expands ${NAME}. Errors say file:line.
Result<Case> parse_checks(const std::string& text, const std::string& file,
                          const std::vector<std::pair<std::string, std::string>>& vars);
// Loads DIR/checks with the variables of DIR/config.yaml.
Result<Case> load_case(const std::string& dir);
// Case folders under `root` (those with a checks file), sorted by name.
std::vector<std::string> list_cases(const std::string& root);

struct RunOptions {
    std::string image_root;  // holds one folder per image (test/, gantry/)
    std::string work_root;   // a folder per case for logs, disks and sockets
};

// Why the case cannot run here (its image was not built, the kernel could not be
// fetched), or nullopt when it can.
std::optional<std::string> skip_reason(const Case& c, const RunOptions& opts);

// Boots the case's VM and runs its steps in order. The error names the failing step, the
// reason, the tail of the console and where the full logs are.
Status run_case(const Case& c, const RunOptions& opts);

}  // namespace gantry::qemu
