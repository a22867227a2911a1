#include "runtime/spec_linux.h"

#include <sched.h>

#include <algorithm>
#include <array>

#include "runtime/spec_json.h"

namespace gantry::runtime {

namespace {

using json = nlohmann::json;

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct NsName {
    std::string_view name;
    NsType type;
    int flag;
};
constexpr std::array<NsName, 8> kNamespaces = {{
    {"pid", NsType::Pid, CLONE_NEWPID},
    {"network", NsType::Network, CLONE_NEWNET},
    {"mount", NsType::Mount, CLONE_NEWNS},
    {"ipc", NsType::Ipc, CLONE_NEWIPC},
    {"uts", NsType::Uts, CLONE_NEWUTS},
    {"user", NsType::User, CLONE_NEWUSER},
    {"cgroup", NsType::Cgroup, CLONE_NEWCGROUP},
    {"time", NsType::Time, CLONE_NEWTIME},
}};

Result<Namespace> parse_namespace(const json& j, const std::string& path) {
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(j, path, {"type", "path"}));
    std::string type = GANTRY_TRY(get_string(j, path, "type", true));
    std::vector<std::string> names;
    for (const auto& n : kNamespaces) {
        names.emplace_back(n.name);
        if (n.name == type) {
            Namespace ns;
            ns.type = n.type;
            ns.path = GANTRY_TRY(get_string(j, path, "path", false));
            if (!ns.path.empty() && ns.path[0] != '/') {
                return fail(Error::msg("{}.path: \"{}\" must be an absolute path", path, ns.path));
            }
            return ns;
        }
    }
    return fail(unknown_value(path + ".type", type, names));
}

Result<std::vector<IdMapping>> parse_mappings(const json& j, const std::string& key) {
    std::vector<IdMapping> out;
    if (!j.contains(key)) {
        return out;
    }
    std::string path = "linux." + key;
    GANTRY_TRY(check_array(j[key], path));
    for (size_t i = 0; i < j[key].size(); i++) {
        const json& m = j[key][i];
        std::string p = fmt::format("{}[{}]", path, i);
        GANTRY_TRY(check_object(m, p));
        GANTRY_TRY(check_keys(m, p, {"containerID", "hostID", "size"}));
        IdMapping im;
        im.container_id = GANTRY_TRY(get_u32(m, p, "containerID", true));
        im.host_id = GANTRY_TRY(get_u32(m, p, "hostID", true));
        im.size = GANTRY_TRY(get_u32(m, p, "size", true));
        if (im.size == 0) {
            return fail(Error::msg("{}.size: must be at least 1", p));
        }
        out.push_back(im);
    }
    return out;
}

Result<Device> parse_device(const json& j, const std::string& path) {
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(j, path, {"path", "type", "major", "minor", "fileMode", "uid", "gid"}));
    Device d;
    d.path = GANTRY_TRY(get_string(j, path, "path", true));
    d.path = GANTRY_TRY_CTX(normalize_abs_path(d.path), "{}.path", path);
    if (d.path.rfind("/dev/", 0) != 0) {
        return fail(Error::msg("{}.path: \"{}\" is not under /dev", path, d.path));
    }
    // Not GANTRY_TRY: GCC 12 warns (falsely) that the string may be used uninitialised.
    auto type_r = get_string(j, path, "type", true);
    if (!type_r) {
        return fail(std::move(type_r).error());
    }
    const std::string& type = *type_r;
    if (type != "c" && type != "u" && type != "b" && type != "p") {
        return fail(unknown_value(path + ".type", type, {"c", "u", "b", "p"}));
    }
    d.type = type[0] == 'u' ? 'c' : type[0];
    if (d.type != 'p') {
        d.major = GANTRY_TRY(get_u32(j, path, "major", true));
        d.minor = GANTRY_TRY(get_u32(j, path, "minor", true));
    }
    if (j.contains("fileMode")) {
        d.file_mode =
            static_cast<mode_t>(GANTRY_TRY(as_u32(j["fileMode"], path + ".fileMode", 07777)));
    }
    if (j.contains("uid")) {
        d.uid = GANTRY_TRY(get_u32(j, path, "uid", true));
    }
    if (j.contains("gid")) {
        d.gid = GANTRY_TRY(get_u32(j, path, "gid", true));
    }
    return d;
}

}  // namespace

Result<Linux> parse_linux(const json& j, std::vector<std::string>& notes) {
    const std::string path = "linux";
    Linux l;
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(
        j, path,
        {"namespaces", "uidMappings", "gidMappings", "devices", "maskedPaths", "readonlyPaths",
         "sysctl", "rootfsPropagation", "cgroupsPath", "resources", "seccomp", "mountLabel"}));
    if (j.contains("namespaces")) {
        GANTRY_TRY(check_array(j["namespaces"], path + ".namespaces"));
        for (size_t i = 0; i < j["namespaces"].size(); i++) {
            std::string p = fmt::format("linux.namespaces[{}]", i);
            Namespace ns = GANTRY_TRY(parse_namespace(j["namespaces"][i], p));
            if (l.has_namespace(ns.type)) {
                return fail(
                    Error::msg("{}: namespace \"{}\" is listed twice", p, ns_type_name(ns.type)));
            }
            l.namespaces.push_back(ns);
        }
    }
    l.uid_mappings = GANTRY_TRY(parse_mappings(j, "uidMappings"));
    l.gid_mappings = GANTRY_TRY(parse_mappings(j, "gidMappings"));
    const Namespace* user = l.find_namespace(NsType::User);
    bool new_user = user && user->path.empty();
    if (new_user && (l.uid_mappings.empty() || l.gid_mappings.empty())) {
        return fail(Error::msg(
            "linux.uidMappings: a new user namespace needs uidMappings and gidMappings"));
    }
    if (!new_user && (!l.uid_mappings.empty() || !l.gid_mappings.empty())) {
        return fail(Error::msg(
            "linux.uidMappings: mappings are set but no new user namespace is requested (add "
            "{\"type\": \"user\"} to linux.namespaces)"));
    }
    if (j.contains("devices")) {
        GANTRY_TRY(check_array(j["devices"], path + ".devices"));
        for (size_t i = 0; i < j["devices"].size(); i++) {
            l.devices.push_back(
                GANTRY_TRY(parse_device(j["devices"][i], fmt::format("linux.devices[{}]", i))));
        }
    }
    for (auto [key, out] : {std::pair{"maskedPaths", &l.masked_paths},
                            std::pair{"readonlyPaths", &l.readonly_paths}}) {
        auto v = GANTRY_TRY(get_string_array(j, path, key));
        for (size_t i = 0; i < v.size(); i++) {
            out->push_back(GANTRY_TRY_CTX(normalize_abs_path(v[i]), "linux.{}[{}]", key, i));
        }
    }
    if (j.contains("sysctl")) {
        GANTRY_TRY(check_object(j["sysctl"], "linux.sysctl"));
        for (const auto& [k, v] : j["sysctl"].items()) {
            std::string p = fmt::format("linux.sysctl.{}", k);
            if (!v.is_string()) {
                return fail(type_error(p, "a string", v));
            }
            if (k.empty() || k.find("..") != std::string::npos ||
                k.find('/') != std::string::npos || k.front() == '.') {
                return fail(Error::msg("{}: \"{}\" is not a sysctl name", p, k));
            }
            l.sysctl[k] = v.get<std::string>();
        }
    }
    l.rootfs_propagation = GANTRY_TRY(get_string(j, path, "rootfsPropagation", false));
    if (!l.rootfs_propagation.empty()) {
        static const std::vector<std::string> kProp = {"shared",     "slave",      "private",
                                                       "unbindable", "rshared",    "rslave",
                                                       "rprivate",   "runbindable"};
        if (std::find(kProp.begin(), kProp.end(), l.rootfs_propagation) == kProp.end()) {
            return fail(unknown_value("linux.rootfsPropagation", l.rootfs_propagation, kProp));
        }
    }
    l.cgroups_path = GANTRY_TRY(get_string(j, path, "cgroupsPath", false));
    if (j.contains("resources")) {
        GANTRY_TRY(check_object(j["resources"], "linux.resources"));
        l.resources = j["resources"];
    }
    if (j.contains("seccomp")) {
        GANTRY_TRY(check_object(j["seccomp"], "linux.seccomp"));
        l.seccomp = j["seccomp"];
    }
    if (j.contains("mountLabel")) {
        notes.push_back("linux.mountLabel: ignored, Gantry does not use SELinux labels");
    }
    return l;
}

bool Linux::has_namespace(NsType t) const {
    return find_namespace(t) != nullptr;
}

const Namespace* Linux::find_namespace(NsType t) const {
    for (const auto& ns : namespaces) {
        if (ns.type == t) {
            return &ns;
        }
    }
    return nullptr;
}

std::string_view ns_type_name(NsType t) {
    for (const auto& n : kNamespaces) {
        if (n.type == t) {
            return n.name;
        }
    }
    return "?";
}

int ns_clone_flag(NsType t) {
    for (const auto& n : kNamespaces) {
        if (n.type == t) {
            return n.flag;
        }
    }
    return 0;
}

}  // namespace gantry::runtime
