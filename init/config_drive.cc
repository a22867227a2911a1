#include "init/config_drive.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::init {

std::vector<std::string> list_block_devices(const std::string& sysfs_root) {
    std::vector<std::string> out;
    std::string dir = sysfs_root + "/class/block";
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.starts_with(".") || n.starts_with("loop") || n.starts_with("ram") ||
            n.starts_with("zram") || n.starts_with("nbd")) {
            continue;
        }
        auto size = read_file(dir + "/" + n + "/size");  // in 512-byte sectors
        if (!size || trim(*size).empty() || trim(*size) == "0") {
            continue;  // an empty CD tray, an unconfigured device
        }
        out.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string config_drive_kind(std::string_view label) {
    std::string l(label);
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    return l == "cidata" || l == "config-2" ? l : "";
}

DriveScan scan_config_drives(const std::string& sysfs_root, const std::string& dev_root) {
    DriveScan scan;
    for (const auto& name : list_block_devices(sysfs_root)) {
        std::string dev = dev_root + "/" + name;
        auto fd = Fd::open(dev, O_RDONLY);
        if (!fd) {
            if (fd.error().code() != ENOMEDIUM) {
                scan.problems.push_back(dev + ": cannot read it: " + fd.error().str());
            }
            continue;
        }
        int raw = fd->get();
        ReadAt read = [raw, &dev](uint64_t off, size_t len) -> Result<std::string> {
            std::string buf(len, '\0');
            size_t got = 0;
            while (got < len) {
                ssize_t n =
                    ::pread(raw, buf.data() + got, len - got, static_cast<off_t>(off + got));
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0) {
                    return fail(Error::sys("read {} at {}", dev, off + got));
                }
                if (n == 0) {
                    break;
                }
                got += static_cast<size_t>(n);
            }
            buf.resize(got);
            return buf;
        };
        auto label = probe_fs_label(read);
        if (!label) {
            scan.problems.push_back(dev + ": cannot read it: " + label.error().str());
            continue;
        }
        if (!*label) {
            continue;
        }
        std::string kind = config_drive_kind((*label)->label);
        if (!kind.empty()) {
            scan.found.push_back(DriveCandidate{dev, name, **label, kind});
        }
    }
    return scan;
}

DriveChoice choose_config_drive(const std::vector<DriveCandidate>& found) {
    DriveChoice c;
    for (const char* kind : {"cidata", "config-2"}) {
        for (const auto& d : found) {
            if (d.kind == kind && !c.chosen) {
                c.chosen = d;
            }
        }
    }
    for (const auto& d : found) {
        if (c.chosen && d.device != c.chosen->device) {
            c.problems.push_back(fmt::format(
                "{} ({} {}) ignored: {} ({}) is the config drive; detach one of them", d.device,
                d.fs.fstype, d.fs.label, c.chosen->device, c.chosen->fs.label));
        }
    }
    return c;
}

std::vector<std::string> fs_modules(const std::string& fstype) {
    if (fstype == "iso9660") {
        return {"isofs"};
    }
    if (fstype == "vfat") {
        return {"vfat", "nls_cp437", "nls_ascii"};
    }
    return {};
}

Result<std::string> mount_config_drive(const DriveCandidate& d, const std::string& mount_root) {
    std::string dir = mount_root + "/" + d.name;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return fail(Error::with_errno(ec.value(), "mkdir " + dir));
    }
    // Read-only and inert: the drive comes from whoever made the VM, and only its
    // user-data file is read.
    unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (::mount(d.device.c_str(), dir.c_str(), d.fs.fstype.c_str(), flags, nullptr) < 0) {
        Error e = Error::sys("mount {} ({}) on {}", d.device, d.fs.fstype, dir);
        ::rmdir(dir.c_str());
        return fail(std::move(e));
    }
    return dir;
}

Status unmount_config_drive(const std::string& dir) {
    if (::umount2(dir.c_str(), 0) < 0) {
        Error e = Error::sys("unmount {}", dir);
        // Still busy (nothing should hold it): detach it so the boot goes on.
        ::umount2(dir.c_str(), MNT_DETACH);
        return fail(std::move(e));
    }
    ::rmdir(dir.c_str());
    return ok();
}

}  // namespace gantry::init
