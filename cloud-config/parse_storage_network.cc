// The storage and network sections.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/strings.h"
#include "cloud-config/parse_internal.h"

namespace gantry::config::detail {
namespace {

bool is_guid(std::string_view s) {
    if (s.size() != 36) {
        return false;
    }
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

void parse_partition(Reader& r, const YAML::Node& n, const std::string& path, Partition& p) {
    auto f = r.fields(n, path, {"label", "number", "size", "type"});
    if (!f) {
        return;
    }
    r.get(*f, "label", path, p.label);
    r.get(*f, "number", path, p.number);
    if (f->has("number") && (p.number < 1 || p.number > 128)) {
        r.error(*f->get("number"), child(path, "number"), "a GPT partition number is 1 to 128");
    }
    r.get_size(*f, "size", path, p.size_bytes);
    r.get(*f, "type", path, p.type);
    static const std::vector<std::string> types = {"linux", "swap", "esp"};
    if (f->has("type") && std::find(types.begin(), types.end(), p.type) == types.end() &&
        !is_guid(p.type)) {
        r.error(*f->get("type"), child(path, "type"),
                fmt::format("\"{}\" is not one of linux, swap, esp or a GPT type GUID", p.type),
                closest_match(p.type, types));
    }
}

void parse_disk(Reader& r, const YAML::Node& n, const std::string& path, Disk& d) {
    auto f = r.fields(n, path, {"device", "wipe", "partitions"});
    if (!f) {
        return;
    }
    d.mark = Reader::mark(n);
    r.require(*f, "device", path, "the disk's path, e.g. /dev/vdb");
    r.get(*f, "device", path, d.device);
    if (f->has("device") && !is_absolute_path(d.device)) {
        r.error(*f->get("device"), child(path, "device"), "must be a path such as /dev/vdb");
    }
    r.get(*f, "wipe", path, d.wipe);
    if (auto* v = f->get("partitions")) {
        std::string pp = child(path, "partitions");
        if (auto list = r.items(*v, pp)) {
            for (size_t i = 0; i < list->size(); ++i) {
                Partition p;
                parse_partition(r, (*list)[i], item(pp, i), p);
                // Only the last partition may take "the rest of the disk".
                if (p.size_bytes == 0 && i + 1 < list->size()) {
                    r.error((*list)[i], item(pp, i),
                            "only the last partition may leave out size (it takes the rest)");
                }
                d.partitions.push_back(std::move(p));
            }
        }
    }
}

void parse_filesystem(Reader& r, const YAML::Node& n, const std::string& path, Filesystem& fs) {
    auto f = r.fields(n, path, {"device", "label", "format", "mount", "options", "wipe"});
    if (!f) {
        return;
    }
    fs.mark = Reader::mark(n);
    r.get(*f, "device", path, fs.device);
    r.get(*f, "label", path, fs.label);
    if (!f->has("device") && !f->has("label")) {
        r.error(n, path, "needs a device (e.g. /dev/vdb1) or a label to find the filesystem by");
    }
    if (f->has("device") && !is_absolute_path(fs.device)) {
        r.error(*f->get("device"), child(path, "device"), "must be a path such as /dev/vdb1");
    }
    r.require(*f, "format", path, "ext4, xfs, btrfs, vfat or swap");
    r.get_choice(*f, "format", path, fs.format,
                 Choices<FsFormat>{{"ext4", FsFormat::ext4},
                                   {"xfs", FsFormat::xfs},
                                   {"btrfs", FsFormat::btrfs},
                                   {"vfat", FsFormat::vfat},
                                   {"swap", FsFormat::swap}});
    r.get(*f, "mount", path, fs.mount);
    if (f->has("mount") && !is_absolute_path(fs.mount)) {
        r.error(*f->get("mount"), child(path, "mount"), "must be an absolute path");
    }
    if (fs.format == FsFormat::swap && f->has("mount")) {
        r.error(*f->get("mount"), child(path, "mount"), "a swap area is not mounted; remove mount");
    }
    r.get(*f, "options", path, fs.options);
    r.get(*f, "wipe", path, fs.wipe);
}

void parse_mount(Reader& r, const YAML::Node& n, const std::string& path, Mount& m) {
    auto f = r.fields(n, path, {"device", "path", "type", "options"});
    if (!f) {
        return;
    }
    m.mark = Reader::mark(n);
    r.require(*f, "device", path, "what to mount: a device, LABEL=..., or e.g. tmpfs");
    r.require(*f, "path", path, "where to mount it");
    r.get(*f, "device", path, m.device);
    r.get(*f, "path", path, m.path);
    if (f->has("path") && !is_absolute_path(m.path)) {
        r.error(*f->get("path"), child(path, "path"), "must be an absolute path");
    }
    r.get(*f, "type", path, m.type);
    r.get(*f, "options", path, m.options);
}

template <typename T, typename Fn>
void parse_list(Reader& r, const Fields& f, std::string_view key, const std::string& path,
                std::vector<T>& out, Fn fn) {
    if (auto* v = f.get(key)) {
        std::string p = child(path, key);
        if (auto list = r.items(*v, p)) {
            for (size_t i = 0; i < list->size(); ++i) {
                T x;
                fn(r, (*list)[i], item(p, i), x);
                out.push_back(std::move(x));
            }
        }
    }
}

bool is_mac(std::string_view s) {
    if (s.size() != 17) {
        return false;
    }
    for (size_t i = 0; i < s.size(); ++i) {
        if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) {
            return false;
        }
    }
    return true;
}

void parse_route(Reader& r, const YAML::Node& n, const std::string& path, Route& rt) {
    auto f = r.fields(n, path, {"to", "via", "metric"});
    if (!f) {
        return;
    }
    r.require(*f, "to", path, "the destination, a CIDR such as 10.1.0.0/16 or default");
    r.get(*f, "to", path, rt.to);
    if (f->has("to") && rt.to != "default" && !is_cidr(rt.to)) {
        r.error(*f->get("to"), child(path, "to"),
                fmt::format("\"{}\" is not a CIDR such as 10.1.0.0/16, or default", rt.to));
    }
    r.require(*f, "via", path, "the next hop's address");
    r.get(*f, "via", path, rt.via);
    if (f->has("via") && !is_ip(rt.via)) {
        r.error(*f->get("via"), child(path, "via"),
                fmt::format("\"{}\" is not an IP address", rt.via));
    }
    r.get(*f, "metric", path, rt.metric);
}

void parse_interface(Reader& r, const Entry& e, const std::string& path, Interface& ifc) {
    ifc.name = e.key;
    ifc.mark = Reader::mark(e.key_node);
    if (e.key.empty() || e.key.size() > 15 || e.key.find('/') != std::string::npos ||
        e.key.find(' ') != std::string::npos) {
        r.error(e.key_node, path, "an interface name is 1 to 15 characters without / or spaces");
    }
    if (e.value.IsNull()) {
        return;  // "eth0:" alone: bring the link up, nothing else
    }
    auto f = r.fields(e.value, path, {"match", "dhcp", "addresses", "gateway", "routes", "mtu"});
    if (!f) {
        return;
    }
    if (auto* m = f->get("match")) {
        if (auto mf = r.fields(*m, child(path, "match"), {"mac"})) {
            r.get(*mf, "mac", child(path, "match"), ifc.match_mac);
            std::transform(ifc.match_mac.begin(), ifc.match_mac.end(), ifc.match_mac.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            if (mf->has("mac") && !is_mac(ifc.match_mac)) {
                r.error(*mf->get("mac"), child(child(path, "match"), "mac"),
                        "not a MAC address such as 52:54:00:12:34:56");
            }
        }
    }
    r.get(*f, "dhcp", path, ifc.dhcp);
    r.get(*f, "addresses", path, ifc.addresses);
    for (size_t i = 0; i < ifc.addresses.size(); ++i) {
        if (!is_cidr(ifc.addresses[i])) {
            r.error((*f->get("addresses"))[i], item(child(path, "addresses"), i),
                    fmt::format("\"{}\" is not an address with a prefix such as 10.0.0.5/24",
                                ifc.addresses[i]));
        }
    }
    r.get(*f, "gateway", path, ifc.gateway);
    if (f->has("gateway")) {
        if (!is_ip(ifc.gateway)) {
            r.error(*f->get("gateway"), child(path, "gateway"),
                    fmt::format("\"{}\" is not an IP address", ifc.gateway));
        } else if (ifc.addresses.empty()) {
            r.error(*f->get("gateway"), child(path, "gateway"),
                    "a gateway needs a static address on the interface (DHCP brings its own "
                    "router)");
        }
    }
    parse_list(r, *f, "routes", path, ifc.routes, parse_route);
    r.get(*f, "mtu", path, ifc.mtu);
    if (f->has("mtu") && (ifc.mtu < 68 || ifc.mtu > 65535)) {
        r.error(*f->get("mtu"), child(path, "mtu"), "an MTU is 68 to 65535");
    }
}

}  // namespace

void parse_storage(Reader& r, const YAML::Node& n, Storage& s) {
    auto f = r.fields(n, "storage", {"disks", "filesystems", "mounts"});
    if (!f) {
        return;
    }
    parse_list(r, *f, "disks", "storage", s.disks, parse_disk);
    parse_list(r, *f, "filesystems", "storage", s.filesystems, parse_filesystem);
    parse_list(r, *f, "mounts", "storage", s.mounts, parse_mount);
}

void parse_network(Reader& r, const YAML::Node& n, Network& net) {
    auto f = r.fields(n, "network", {"interfaces", "dns"});
    if (!f) {
        return;
    }
    if (auto* v = f->get("interfaces")) {
        if (auto es = r.entries(*v, "network.interfaces")) {
            for (const auto& e : *es) {
                Interface ifc;
                parse_interface(r, e, child("network.interfaces", e.key), ifc);
                net.interfaces.push_back(std::move(ifc));
            }
        }
    }
    std::sort(net.interfaces.begin(), net.interfaces.end(),
              [](const Interface& a, const Interface& b) { return a.name < b.name; });
    if (auto* v = f->get("dns")) {
        if (auto d = r.fields(*v, "network.dns", {"nameservers", "search"})) {
            r.get(*d, "nameservers", "network.dns", net.dns.nameservers);
            for (size_t i = 0; i < net.dns.nameservers.size(); ++i) {
                if (!is_ip(net.dns.nameservers[i])) {
                    r.error((*d->get("nameservers"))[i], item("network.dns.nameservers", i),
                            fmt::format("\"{}\" is not an IP address", net.dns.nameservers[i]));
                }
            }
            r.get(*d, "search", "network.dns", net.dns.search);
        }
    }
}

}  // namespace gantry::config::detail
