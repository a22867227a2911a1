#include "cloud-config/model.h"

#include <algorithm>

namespace gantry::config {

const Service* Config::find_service(std::string_view name) const {
    auto it = std::find_if(services.begin(), services.end(),
                           [&](const Service& s) { return s.name == name; });
    return it == services.end() ? nullptr : &*it;
}

Mark Service::mark_of(std::string_view key) const {
    auto it = key_marks.find(std::string(key));
    return it == key_marks.end() ? mark : it->second;
}

const std::vector<SectionPolicy>& section_policies() {
    // Apply order: the host first (so files and users exist before services read them),
    // then disks, then mounts (services' volumes live there), then network, then services.
    static const std::vector<SectionPolicy> policies = {
        {"hostname", BootPolicy::every_boot, "/etc is in the initramfs, new each boot"},
        {"timezone", BootPolicy::every_boot, "/etc/localtime is in the initramfs"},
        {"users", BootPolicy::every_boot, "/etc/passwd, group and shadow are new each boot"},
        {"ssh_authorized_keys", BootPolicy::every_boot, "home directories are new each boot"},
        {"write_files", BootPolicy::every_boot, "files outside the state partition vanish"},
        {"kernel", BootPolicy::every_boot, "modules and sysctls do not survive a reboot"},
        {"storage.disks", BootPolicy::first_boot,
         "a partition table is written once, when the disk has none (or wipe: true)"},
        {"storage.filesystems", BootPolicy::first_boot,
         "a filesystem is made once, when the device has none (or wipe: true); mounted every "
         "boot"},
        {"storage.mounts", BootPolicy::every_boot, "mounts do not survive a reboot"},
        {"network", BootPolicy::every_boot, "links, addresses and routes do not survive"},
        {"kv", BootPolicy::every_boot, "the store's data persists; its settings apply each boot"},
        {"update", BootPolicy::every_boot, "settings only; slots are handled by the updater"},
        {"services", BootPolicy::every_boot, "containers are created on each boot"},
    };
    return policies;
}

BootPolicy boot_policy(std::string_view section) {
    for (const auto& p : section_policies()) {
        if (p.section == section) {
            return p.policy;
        }
    }
    return BootPolicy::every_boot;
}

std::string_view to_string(Encoding e) {
    switch (e) {
        case Encoding::plain:
            return "plain";
        case Encoding::base64:
            return "b64";
        case Encoding::gzip:
            return "gzip";
        case Encoding::gzip_base64:
            return "gz+b64";
    }
    return "?";
}

std::string_view to_string(FsFormat f) {
    switch (f) {
        case FsFormat::ext4:
            return "ext4";
        case FsFormat::xfs:
            return "xfs";
        case FsFormat::btrfs:
            return "btrfs";
        case FsFormat::vfat:
            return "vfat";
        case FsFormat::swap:
            return "swap";
    }
    return "?";
}

std::string_view to_string(ServiceType t) {
    return t == ServiceType::oneshot ? "oneshot" : "service";
}

std::string_view to_string(RestartPolicy p) {
    switch (p) {
        case RestartPolicy::no:
            return "no";
        case RestartPolicy::always:
            return "always";
        case RestartPolicy::on_failure:
            return "on-failure";
        case RestartPolicy::unless_stopped:
            return "unless-stopped";
    }
    return "?";
}

std::string_view to_string(DependCondition c) {
    switch (c) {
        case DependCondition::service_started:
            return "service_started";
        case DependCondition::service_healthy:
            return "service_healthy";
        case DependCondition::service_completed_successfully:
            return "service_completed_successfully";
    }
    return "?";
}

std::string_view to_string(NetworkMode m) {
    switch (m) {
        case NetworkMode::bridge:
            return "bridge";
        case NetworkMode::host:
            return "host";
        case NetworkMode::none:
            return "none";
        case NetworkMode::service:
            return "service";
    }
    return "?";
}

std::string_view to_string(Protocol p) {
    return p == Protocol::udp ? "udp" : "tcp";
}

std::string_view to_string(VolumeType t) {
    switch (t) {
        case VolumeType::bind:
            return "bind";
        case VolumeType::volume:
            return "volume";
        case VolumeType::tmpfs:
            return "tmpfs";
    }
    return "?";
}

std::string_view to_string(KvBackend b) {
    return b == KvBackend::etcd ? "etcd" : "embedded";
}

std::string_view to_string(RebootStrategy s) {
    switch (s) {
        case RebootStrategy::off:
            return "off";
        case RebootStrategy::reboot:
            return "reboot";
        case RebootStrategy::best_effort:
            return "best-effort";
        case RebootStrategy::etcd_lock:
            return "etcd-lock";
    }
    return "?";
}

std::string_view to_string(BootPolicy p) {
    return p == BootPolicy::first_boot ? "first-boot" : "every-boot";
}

}  // namespace gantry::config
