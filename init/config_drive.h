// Config drives (docs/config.md, "Sources"): a disk or CD whose file system is labelled
// `cidata` (NoCloud: user-data at its root) or `config-2` (OpenStack:
// openstack/latest/user_data). PID 1 finds one before it reads its config:
//
//   1. scan   every block device in /sys/class/block (not loop/ram/zram), its label read
//             from its bytes (init/fs_label.h); an unreadable device is a problem, not a stop
//   2. choose the first `cidata` drive by device name, else the first `config-2`; any other
//             labelled drive is reported as ignored (two drives are a mistake worth seeing)
//   3. mount  read-only, nosuid, nodev, noexec under /run/gantry/config-drive/<dev>, after
//             loading the file system's modules (isofs; vfat + its code pages)
//   4. the cloud-config loader reads user-data from the mount; then it is unmounted
//
// Labels compare case-insensitively (mkfs.fat and some clouds write CIDATA / CONFIG-2),
// as cloud-init does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "init/fs_label.h"

namespace gantry::init {

struct DriveCandidate {
    std::string device;  // "/dev/vdb"
    std::string name;    // "vdb"
    FsLabel fs;
    std::string kind;  // "cidata" or "config-2"
};

struct DriveScan {
    std::vector<DriveCandidate> found;  // sorted by device name
    std::vector<std::string> problems;  // one line each: device and what went wrong
};

// The block device names under <sysfs_root>/class/block worth probing, sorted: a size
// above 0, not loop/ram/zram/nbd (never a config drive, and a loop may still be busy).
std::vector<std::string> list_block_devices(const std::string& sysfs_root);

// "cidata" / "config-2" for a config-drive label, else "".
std::string config_drive_kind(std::string_view label);

// Steps 1: reads each device's label from <dev_root>/<name>.
DriveScan scan_config_drives(const std::string& sysfs_root = "/sys",
                             const std::string& dev_root = "/dev");

struct DriveChoice {
    std::optional<DriveCandidate> chosen;
    std::vector<std::string> problems;  // drives left out, and why
};
// Step 2.
DriveChoice choose_config_drive(const std::vector<DriveCandidate>& found);

// The modules a file system type needs before mount(2): {"isofs"}, {"vfat", "nls_cp437",
// "nls_ascii"} (Debian's FAT defaults: codepage 437, iocharset ascii), {} for ext4 (built in).
std::vector<std::string> fs_modules(const std::string& fstype);

// Step 3: mounts the drive read-only at <mount_root>/<name>; returns that directory.
Result<std::string> mount_config_drive(const DriveCandidate& d, const std::string& mount_root);
// Step 4: unmounts and removes the directory. Failures are returned, never fatal.
Status unmount_config_drive(const std::string& dir);

}  // namespace gantry::init
