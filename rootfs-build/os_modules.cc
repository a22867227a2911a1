#include "rootfs-build/os_modules.h"

#include <filesystem>
#include <functional>

#include "base/fd.h"
#include "base/strings.h"
#include "rootfs-build/os_elf.h"
#include "rootfs-build/os_proc.h"

namespace gantry::osimage {

const std::vector<std::string>& default_modules() {
    static const std::vector<std::string> kModules = {
        // devices QEMU (and most clouds) give us
        "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", "virtio_scsi",
        "qemu_fw_cfg", "button", "evdev",
        // file systems: container rootfs, state partition, ESP, config drives, images
        "overlay", "ext4", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "isofs", "squashfs",
        "erofs", "loop",
        // container networking: veth pairs on a bridge, NAT and published ports with nftables
        "veth", "bridge", "br_netfilter", "nf_tables", "nf_conntrack", "nf_nat", "nft_chain_nat",
        "nft_nat", "nft_masq", "nft_ct", "nft_reject_inet", "nft_fib_inet", "nft_compat", "tun",
        // faster checksums for ext4 metadata
        "crc32c_intel"};
    return kModules;
}

const std::vector<std::string>& early_modules() {
    // Only what PID 1 needs before the config is read and checked; the rest loads in the
    // late helper while services start (init/pid1.cc, start_helpers). virtio_pci + virtio_console:
    // the event and ctl ports. qemu_fw_cfg: the config. button + evdev (both modules on
    // Debian's cloud kernel, not built in): the ACPI power button as /dev/input/eventN,
    // watched before any service starts, so a shutdown request (cloud, QMP
    // system_powerdown) is never lost, not even one right after `ready`. overlay: every
    // container root. Not here: virtio_blk (PID 1 loads it by name only when it must look
    // for a config drive: no config on the command line or in fw_cfg) and virtio_net (the
    // late helper loads it by name and sets network.interfaces while services that do not
    // need it start; host-network services wait for it).
    static const std::vector<std::string> kEarly = {"virtio_pci", "virtio_console", "qemu_fw_cfg",
                                                    "button",     "evdev",          "overlay"};
    return kEarly;
}

const std::vector<std::string>& optional_modules() {
    static const std::vector<std::string> kOptional = {"dummy", "nbd", "zram", "vxlan"};
    return kOptional;
}

bool strip_module_signature(std::string& ko) {
    // scripts/sign-file appends: the PKCS#7 signature, struct module_signature (12 bytes,
    // the signature's length big-endian in the last 4), then the magic string.
    static constexpr std::string_view kMagic = "~Module signature appended~\n";
    constexpr size_t kInfo = 12;
    if (!std::string_view(ko).ends_with(kMagic) || ko.size() < kMagic.size() + kInfo) {
        return false;
    }
    const size_t info = ko.size() - kMagic.size() - kInfo;
    const auto* p = reinterpret_cast<const unsigned char*>(ko.data() + info + 8);
    const size_t sig_len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    if (sig_len > info) {
        return false;  // not a signature we understand: leave the module as it is
    }
    ko.resize(info - sig_len);
    return true;
}

std::string module_name_from_file(std::string_view filename) {
    std::string name(filename);
    for (std::string_view ext : {".ko.xz", ".ko.zst", ".ko.gz", ".ko"}) {
        if (name.ends_with(ext)) {
            name.resize(name.size() - ext.size());
            break;
        }
    }
    for (char& c : name) {
        if (c == '-') {
            c = '_';
        }
    }
    return name;
}

Result<ModuleTree> ModuleTree::scan(const std::string& dir) {
    namespace fs = std::filesystem;
    ModuleTree t;
    t.dir_ = dir;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        std::string fname = it->path().filename().string();
        if (!it->is_regular_file() || fname.find(".ko") == std::string::npos) {
            continue;
        }
        t.files_[module_name_from_file(fname)] = fs::relative(it->path(), dir).string();
    }
    if (ec) {
        return fail(Error::with_errno(ec.value(), fmt::format("scan modules in {}", dir)));
    }
    if (auto builtin = read_file(dir + "/modules.builtin")) {
        for (const auto& line : split(*builtin, '\n')) {
            if (!line.empty()) {
                t.builtin_.insert(module_name_from_file(fs::path(line).filename().string()));
            }
        }
    }
    if (t.files_.empty()) {
        return fail(Error::msg("no kernel modules under {}", dir));
    }
    return t;
}

Result<std::string> ModuleTree::read_module(const Module& m) const {
    std::string path = dir_ + "/" + m.rel_path;
    if (m.rel_path.ends_with(".ko.xz")) {
        return run_capture({"xz", "-dc", path});
    }
    if (m.rel_path.ends_with(".ko.zst")) {
        return run_capture({"zstd", "-dcq", path});
    }
    if (m.rel_path.ends_with(".ko.gz")) {
        return run_capture({"gzip", "-dc", path});
    }
    return read_file(path);
}

Result<std::vector<std::string>> ModuleTree::depends_of(const Module& m) const {
    auto bytes = GANTRY_TRY(read_module(m));
    auto info = GANTRY_TRY_CTX(parse_modinfo(bytes), "{}", m.rel_path);
    std::vector<std::string> deps;
    for (const auto& [key, value] : info) {
        if (key == "depends") {
            for (const auto& d : split(value, ',')) {
                if (!d.empty()) {
                    deps.push_back(module_name_from_file(d));
                }
            }
        }
    }
    return deps;
}

Result<std::vector<Module>> ModuleTree::load_order(const std::vector<std::string>& wanted) const {
    std::vector<Module> order;
    std::set<std::string> done;
    std::set<std::string> visiting;
    // Depth-first, dependencies before dependants: the order finit_module needs, since a
    // module's unresolved symbols must already be exported when it loads.
    std::function<Status(const std::string&, const std::string&)> visit =
        [&](const std::string& name, const std::string& why) -> Status {
        std::string n = module_name_from_file(name);
        if (done.contains(n) || builtin_.contains(n)) {
            return ok();
        }
        auto it = files_.find(n);
        if (it == files_.end()) {
            return fail(Error::msg(
                "kernel module '{}' ({}) is neither a file under {} nor built in", n, why, dir_));
        }
        if (visiting.contains(n)) {
            return fail(Error::msg("kernel module dependency cycle through '{}'", n));
        }
        visiting.insert(n);
        Module m{n, it->second, {}};
        auto deps = GANTRY_TRY(depends_of(m));
        for (const auto& d : deps) {
            GANTRY_TRY(visit(d, "needed by " + n));
        }
        m.depends = std::move(deps);
        visiting.erase(n);
        done.insert(n);
        order.push_back(std::move(m));
        return ok();
    };
    for (const auto& w : wanted) {
        GANTRY_TRY(visit(w, "wanted"));
    }
    return order;
}

}  // namespace gantry::osimage
