#include "runtime/mount_plan.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <array>

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

namespace gantry::runtime {

namespace {

struct OptionFlag {
    std::string_view name;
    bool clear;  // true: the option turns the flag off
    unsigned long flag;
};

constexpr std::array<OptionFlag, 22> kFlagOptions = {{
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
}};

struct PropOption {
    std::string_view name;
    unsigned long flags;
};
constexpr std::array<PropOption, 8> kPropagation = {{
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
}};

unsigned long propagation_flags(std::string_view name) {
    for (const auto& p : kPropagation) {
        if (p.name == name) {
            return p.flags;
        }
    }
    return 0;
}

std::string relative(const std::string& abs) {
    return abs == "/" ? std::string(".") : abs.substr(1);
}

std::string kind_name(MountStep::Kind k) {
    switch (k) {
        case MountStep::Kind::RootPropagation:
            return "make / rslave";
        case MountStep::Kind::BindRootfs:
            return "bind rootfs";
        case MountStep::Kind::PivotRoot:
            return "pivot_root";
        case MountStep::Kind::SetPropagation:
            return "linux.rootfsPropagation";
        case MountStep::Kind::Sysctls:
            return "linux.sysctl";
        case MountStep::Kind::RemountRootReadonly:
            return "root.readonly";
        default:
            return "";
    }
}

}  // namespace

std::string MountStep::describe() const {
    switch (kind) {
        case Kind::Mount:
            return fmt::format("mounts[{}] ({} on /{})", spec_index, bind ? "bind" : fstype,
                               target == "." ? "" : target);
        case Kind::Device:
            return spec_index >= 0 ? fmt::format("linux.devices[{}] (/{})", spec_index, target)
                                   : fmt::format("default device /{}", target);
        case Kind::Symlink:
            return fmt::format("symlink /{} -> {}", target, source);
        case Kind::Mask:
            return fmt::format("linux.maskedPaths[{}] ({})", spec_index, target);
        case Kind::ReadonlyPath:
            return fmt::format("linux.readonlyPaths[{}] ({})", spec_index, target);
        default:
            return kind_name(kind);
    }
}

Result<MountOptions> parse_mount_options(const std::vector<std::string>& options,
                                         const std::string& path) {
    MountOptions o;
    for (size_t i = 0; i < options.size(); i++) {
        const std::string& opt = options[i];
        bool done = false;
        for (const auto& f : kFlagOptions) {
            if (f.name == opt) {
                if (f.clear) {
                    o.flags &= ~f.flag;
                    o.clear |= f.flag;
                } else {
                    o.flags |= f.flag;
                    o.clear &= ~f.flag;
                }
                done = true;
                break;
            }
        }
        if (done) {
            continue;
        }
        if (opt == "bind" || opt == "rbind") {
            o.bind = true;
            o.recursive = o.recursive || opt == "rbind";
            continue;
        }
        if (unsigned long p = propagation_flags(opt); p != 0) {
            o.propagation = p;
            continue;
        }
        if (opt == "tmpcopyup" || opt == "copy-symlink" || opt == "idmap" || opt == "ridmap") {
            return fail(Error::msg("{}[{}]: \"{}\" is not supported by gantry-oci", path, i, opt));
        }
        if (opt.empty() || opt.find(',') != std::string::npos) {
            return fail(Error::msg("{}[{}]: \"{}\" is not a single mount option", path, i, opt));
        }
        // Anything else is file-system specific (mode=755, size=64k, newinstance, ...) and
        // goes to the kernel as data, which reports what it does not know.
        if (!o.data.empty()) {
            o.data += ',';
        }
        o.data += opt;
    }
    return o;
}

const std::vector<Device>& default_devices() {
    static const std::vector<Device> devs = [] {
        std::vector<Device> d;
        auto add = [&](const char* p, int major, int minor) {
            Device dev;
            dev.path = p;
            dev.type = 'c';
            dev.major = major;
            dev.minor = minor;
            dev.file_mode = 0666;
            d.push_back(dev);
        };
        add("/dev/null", 1, 3);
        add("/dev/zero", 1, 5);
        add("/dev/full", 1, 7);
        add("/dev/random", 1, 8);
        add("/dev/urandom", 1, 9);
        add("/dev/tty", 5, 0);
        return d;
    }();
    return devs;
}

Result<MountPlan> MountPlan::build(const Spec& spec, const std::string& bundle_dir,
                                   const std::string& rootfs) {
    MountPlan plan;
    const Linux& l = spec.linux_;
    if (!l.has_namespace(NsType::Mount)) {
        return fail(Error::msg(
            "linux.namespaces: gantry-oci needs a mount namespace to set up the rootfs (add "
            "{\"type\": \"mount\"})"));
    }
    if (rootfs.empty() || rootfs[0] != '/') {
        return fail(Error::msg("root.path: \"{}\" must be absolute here", rootfs));
    }

    // 1.
    MountStep s;
    s.kind = MountStep::Kind::RootPropagation;
    s.flags = MS_SLAVE | MS_REC;
    if (!l.rootfs_propagation.empty()) {
        s.flags = propagation_flags(l.rootfs_propagation);
    }
    plan.steps.push_back(s);

    // 2.
    s = MountStep{};
    s.kind = MountStep::Kind::BindRootfs;
    s.source = rootfs;
    s.flags = MS_BIND | MS_REC;
    plan.steps.push_back(s);

    // 3.
    bool dev_is_ours = false;
    for (size_t i = 0; i < spec.mounts.size(); i++) {
        const Mount& m = spec.mounts[i];
        std::string path = fmt::format("mounts[{}]", i);
        MountOptions o = GANTRY_TRY(parse_mount_options(m.options, path + ".options"));
        MountStep st;
        st.kind = MountStep::Kind::Mount;
        st.spec_index = static_cast<int>(i);
        st.target = relative(m.destination);
        if (st.target == ".") {
            return fail(
                Error::msg("{}.destination: mounting over / is not supported (use root)", path));
        }
        st.bind = o.bind || m.type == "bind";
        st.propagation = o.propagation;
        st.data = o.data;
        if (st.bind) {
            if (m.source.empty()) {
                return fail(Error::msg("{}.source: a bind mount needs a source", path));
            }
            st.source = m.source[0] == '/' ? m.source : bundle_dir + "/" + m.source;
            st.fstype = "bind";
            st.flags = MS_BIND | (o.recursive ? MS_REC : 0);
            // A bind mount ignores every flag but MS_REC; they need a remount (mount(8) does
            // the same). Keep what the spec did not clear, so "ro" really is read-only.
            unsigned long extra =
                o.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
                           MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW);
            if (extra != 0) {
                st.remount_flags = MS_REMOUNT | MS_BIND | extra;
            }
        } else {
            if (m.type.empty()) {
                return fail(Error::msg("{}.type: missing (proc, tmpfs, sysfs, bind, ...)", path));
            }
            // Gantry runs cgroup v2 only (DESIGN.md): a "cgroup" mount is the unified
            // hierarchy, seen through the container's cgroup namespace.
            st.fstype = m.type == "cgroup" ? "cgroup2" : m.type;
            st.source = m.source.empty() ? m.type : m.source;
            st.flags = o.flags;
        }
        if (m.destination == "/dev" && !st.bind) {
            dev_is_ours = true;
        }
        plan.steps.push_back(st);
    }

    // 4. Devices: the defaults when /dev is a fresh tmpfs, then the spec's (which may
    // override a default with other numbers or modes).
    std::vector<std::pair<const Device*, int>> devices;
    if (dev_is_ours) {
        for (const Device& d : default_devices()) {
            bool overridden = false;
            for (const Device& sd : l.devices) {
                overridden = overridden || sd.path == d.path;
            }
            if (!overridden) {
                devices.emplace_back(&d, -1);
            }
        }
    }
    for (size_t i = 0; i < l.devices.size(); i++) {
        devices.emplace_back(&l.devices[i], static_cast<int>(i));
    }
    for (const auto& [d, idx] : devices) {
        MountStep st;
        st.kind = MountStep::Kind::Device;
        st.spec_index = idx;
        st.target = relative(d->path);
        mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
        st.mode = type | (d->file_mode ? (*d->file_mode & 07777) : 0666);
        st.dev = makedev(static_cast<unsigned>(d->major), static_cast<unsigned>(d->minor));
        st.uid = d->uid.value_or(0);
        st.gid = d->gid.value_or(0);
        plan.steps.push_back(st);
    }

    // 5.
    if (dev_is_ours) {
        for (auto [link, to] :
             {std::pair{"dev/fd", "/proc/self/fd"}, std::pair{"dev/stdin", "/proc/self/fd/0"},
              std::pair{"dev/stdout", "/proc/self/fd/1"},
              std::pair{"dev/stderr", "/proc/self/fd/2"}, std::pair{"dev/ptmx", "pts/ptmx"},
              std::pair{"dev/core", "/proc/kcore"}}) {
            MountStep st;
            st.kind = MountStep::Kind::Symlink;
            st.target = link;
            st.source = to;
            plan.steps.push_back(st);
        }
    }

    // 6-8.
    s = MountStep{};
    s.kind = MountStep::Kind::PivotRoot;
    plan.steps.push_back(s);
    if (!l.rootfs_propagation.empty()) {
        s.kind = MountStep::Kind::SetPropagation;
        s.propagation = propagation_flags(l.rootfs_propagation);
        plan.steps.push_back(s);
    }
    if (!l.sysctl.empty()) {
        s = MountStep{};
        s.kind = MountStep::Kind::Sysctls;
        plan.steps.push_back(s);
    }

    // 9-10.
    for (size_t i = 0; i < l.masked_paths.size(); i++) {
        MountStep st;
        st.kind = MountStep::Kind::Mask;
        st.spec_index = static_cast<int>(i);
        st.target = l.masked_paths[i];
        plan.steps.push_back(st);
    }
    for (size_t i = 0; i < l.readonly_paths.size(); i++) {
        MountStep st;
        st.kind = MountStep::Kind::ReadonlyPath;
        st.spec_index = static_cast<int>(i);
        st.target = l.readonly_paths[i];
        plan.steps.push_back(st);
    }

    // 11.
    if (spec.root.readonly) {
        s = MountStep{};
        s.kind = MountStep::Kind::RemountRootReadonly;
        plan.steps.push_back(s);
    }
    return plan;
}

}  // namespace gantry::runtime
