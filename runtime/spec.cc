#include "runtime/spec.h"

#include <sched.h>
#include <sys/resource.h>

#include <array>

#include "base/fd.h"
#include "base/strings.h"
#include "runtime/spec_json.h"
#include "runtime/spec_linux.h"

namespace gantry::runtime {

namespace {

using json = nlohmann::json;

struct RlimitName {
    std::string_view name;
    int resource;
};
constexpr std::array<RlimitName, 16> kRlimits = {{
    {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},
    {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_STACK", RLIMIT_STACK},
}};

Result<User> parse_user(const json& j, const std::string& path) {
    User u;
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(j, path, {"uid", "gid", "additionalGids", "umask", "username"}));
    u.uid = GANTRY_TRY(get_u32(j, path, "uid", true));
    u.gid = GANTRY_TRY(get_u32(j, path, "gid", true));
    if (j.contains("additionalGids")) {
        const json& a = j["additionalGids"];
        std::string ap = path + ".additionalGids";
        GANTRY_TRY(check_array(a, ap));
        for (size_t i = 0; i < a.size(); i++) {
            u.additional_gids.push_back(
                GANTRY_TRY(as_u32(a[i], fmt::format("{}[{}]", ap, i), UINT32_MAX)));
        }
    }
    if (j.contains("umask")) {
        u.umask = static_cast<mode_t>(GANTRY_TRY(as_u32(j["umask"], path + ".umask", 0777)));
    }
    return u;
}

Result<Rlimit> parse_rlimit(const json& j, const std::string& path) {
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(j, path, {"type", "soft", "hard"}));
    Rlimit r;
    r.type = GANTRY_TRY(get_string(j, path, "type", true));
    std::vector<std::string> names;
    bool found = false;
    for (const auto& n : kRlimits) {
        names.emplace_back(n.name);
        if (n.name == r.type) {
            r.resource = n.resource;
            found = true;
        }
    }
    if (!found) {
        return fail(unknown_value(path + ".type", r.type, names));
    }
    r.soft = GANTRY_TRY(get_u64(j, path, "soft", true));
    r.hard = GANTRY_TRY(get_u64(j, path, "hard", true));
    if (r.soft > r.hard) {
        return fail(
            Error::msg("{}: soft limit {} is above the hard limit {}", path, r.soft, r.hard));
    }
    return r;
}

Result<Mount> parse_mount(const json& j, const std::string& path) {
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(check_keys(
        j, path, {"destination", "type", "source", "options", "uidMappings", "gidMappings"}));
    if (j.contains("uidMappings") || j.contains("gidMappings")) {
        return fail(
            Error::msg("{}: idmapped mounts (uidMappings/gidMappings) are not supported", path));
    }
    Mount m;
    m.destination = GANTRY_TRY(get_string(j, path, "destination", true));
    if (m.destination.empty() || m.destination[0] != '/') {
        return fail(
            Error::msg("{}.destination: \"{}\" must be an absolute path", path, m.destination));
    }
    m.destination = GANTRY_TRY_CTX(normalize_abs_path(m.destination), "{}.destination", path);
    m.type = GANTRY_TRY(get_string(j, path, "type", false));
    m.source = GANTRY_TRY(get_string(j, path, "source", false));
    m.options = GANTRY_TRY(get_string_array(j, path, "options"));
    return m;
}

}  // namespace

Result<std::string> normalize_abs_path(std::string_view p) {
    if (p.empty() || p[0] != '/') {
        return fail(Error::msg("\"{}\" is not an absolute path", p));
    }
    std::vector<std::string_view> parts;
    size_t i = 0;
    while (i < p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) {
            j = p.size();
        }
        std::string_view c = p.substr(i, j - i);
        if (c == "..") {
            if (parts.empty()) {
                return fail(
                    Error::msg("\"{}\" climbs above / with \"..\" (outside the rootfs)", p));
            }
            parts.pop_back();
        } else if (!c.empty() && c != ".") {
            parts.push_back(c);
        }
        i = j + 1;
    }
    std::string out;
    for (auto c : parts) {
        out += '/';
        out += c;
    }
    return out.empty() ? std::string("/") : out;
}

Result<Process> parse_process(const json& j, std::string_view path_sv) {
    const std::string path(path_sv);
    Process p;
    GANTRY_TRY(check_object(j, path));
    GANTRY_TRY(
        check_keys(j, path,
                   {"terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd",
                    "capabilities", "rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj",
                    "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity"}));
    if (j.contains("terminal")) {
        if (!j["terminal"].is_boolean()) {
            return fail(type_error(path + ".terminal", "a boolean", j["terminal"]));
        }
        if (j["terminal"].get<bool>()) {
            return fail(Error::msg(
                "{}.terminal: true is not supported: Gantry runs services without a console "
                "(set it to false and pass stdio as pipes)",
                path));
        }
    }
    for (const char* unsupported : {"ioPriority", "scheduler", "execCPUAffinity", "commandLine"}) {
        if (j.contains(unsupported)) {
            return fail(Error::msg("{}.{}: not supported by gantry-oci", path, unsupported));
        }
    }
    p.args = GANTRY_TRY(get_string_array(j, path, "args"));
    if (p.args.empty()) {
        return fail(Error::msg("{}.args: must name the program to run", path));
    }
    p.env = GANTRY_TRY(get_string_array(j, path, "env"));
    for (size_t i = 0; i < p.env.size(); i++) {
        if (p.env[i].find('=') == std::string::npos) {
            return fail(Error::msg("{}.env[{}]: \"{}\" is not NAME=VALUE", path, i, p.env[i]));
        }
    }
    std::string cwd = GANTRY_TRY(get_string(j, path, "cwd", false));
    if (!cwd.empty()) {
        p.cwd = GANTRY_TRY_CTX(normalize_abs_path(cwd), "{}.cwd", path);
    }
    if (j.contains("user")) {
        p.user = GANTRY_TRY(parse_user(j["user"], path + ".user"));
    }
    if (j.contains("rlimits")) {
        GANTRY_TRY(check_array(j["rlimits"], path + ".rlimits"));
        for (size_t i = 0; i < j["rlimits"].size(); i++) {
            Rlimit r =
                GANTRY_TRY(parse_rlimit(j["rlimits"][i], fmt::format("{}.rlimits[{}]", path, i)));
            for (const auto& o : p.rlimits) {
                if (o.resource == r.resource) {
                    return fail(Error::msg("{}.rlimits[{}]: {} is set twice", path, i, r.type));
                }
            }
            p.rlimits.push_back(r);
        }
    }
    if (j.contains("noNewPrivileges")) {
        if (!j["noNewPrivileges"].is_boolean()) {
            return fail(type_error(path + ".noNewPrivileges", "a boolean", j["noNewPrivileges"]));
        }
        p.no_new_privileges = j["noNewPrivileges"].get<bool>();
    }
    if (j.contains("oomScoreAdj")) {
        const json& o = j["oomScoreAdj"];
        if (!o.is_number_integer() || o.get<int64_t>() < -1000 || o.get<int64_t>() > 1000) {
            return fail(type_error(path + ".oomScoreAdj", "an integer in -1000..1000", o));
        }
        p.oom_score_adj = static_cast<int>(o.get<int64_t>());
    }
    if (j.contains("capabilities")) {
        GANTRY_TRY(check_object(j["capabilities"], path + ".capabilities"));
        p.capabilities = j["capabilities"];
    }
    return p;
}

Result<Spec> parse_spec_json(const json& j) {
    Spec s;
    GANTRY_TRY(check_object(j, "config"));
    GANTRY_TRY(check_keys(j, "",
                          {"ociVersion", "process", "root", "hostname", "domainname", "mounts",
                           "linux", "annotations", "hooks"}));
    s.oci_version = GANTRY_TRY(get_string(j, "", "ociVersion", true));
    if (s.oci_version.rfind("1.", 0) != 0) {
        return fail(
            Error::msg("ociVersion: \"{}\" is not a 1.x runtime-spec version", s.oci_version));
    }
    if (!j.contains("process")) {
        return fail(Error::msg("process: missing (gantry-oci needs a process to run)"));
    }
    s.process = GANTRY_TRY(parse_process(j["process"], "process"));
    if (j["process"].contains("apparmorProfile")) {
        s.notes.push_back("process.apparmorProfile: ignored, Gantry loads no AppArmor profiles");
    }
    if (j["process"].contains("selinuxLabel")) {
        s.notes.push_back("process.selinuxLabel: ignored, Gantry does not use SELinux");
    }
    if (!j.contains("root")) {
        return fail(Error::msg("root: missing"));
    }
    GANTRY_TRY(check_object(j["root"], "root"));
    GANTRY_TRY(check_keys(j["root"], "root", {"path", "readonly"}));
    s.root.path = GANTRY_TRY(get_string(j["root"], "root", "path", true));
    if (s.root.path.empty()) {
        return fail(Error::msg("root.path: must not be empty"));
    }
    if (j["root"].contains("readonly")) {
        if (!j["root"]["readonly"].is_boolean()) {
            return fail(type_error("root.readonly", "a boolean", j["root"]["readonly"]));
        }
        s.root.readonly = j["root"]["readonly"].get<bool>();
    }
    s.hostname = GANTRY_TRY(get_string(j, "", "hostname", false));
    if (j.contains("domainname")) {
        s.notes.push_back("domainname: ignored");
    }
    if (j.contains("hooks")) {
        return fail(Error::msg("hooks: OCI hooks are not supported by gantry-oci"));
    }
    if (j.contains("mounts")) {
        GANTRY_TRY(check_array(j["mounts"], "mounts"));
        for (size_t i = 0; i < j["mounts"].size(); i++) {
            s.mounts.push_back(
                GANTRY_TRY(parse_mount(j["mounts"][i], fmt::format("mounts[{}]", i))));
        }
    }
    if (j.contains("linux")) {
        s.linux_ = GANTRY_TRY(parse_linux(j["linux"], s.notes));
    } else {
        return fail(Error::msg("linux: missing (gantry-oci only runs Linux containers)"));
    }
    if (!s.hostname.empty() && !s.linux_.has_namespace(NsType::Uts)) {
        return fail(Error::msg("hostname: setting a hostname needs a new uts namespace"));
    }
    if (!s.linux_.sysctl.empty()) {
        for (const auto& [k, v] : s.linux_.sysctl) {
            bool net = k.rfind("net.", 0) == 0;
            bool ipc = k.rfind("kernel.msg", 0) == 0 || k.rfind("kernel.sem", 0) == 0 ||
                       k.rfind("kernel.shm", 0) == 0 || k.rfind("fs.mqueue.", 0) == 0;
            // Outside these, a sysctl is host-wide: writing it from a container would change
            // the host (runc validates the same way).
            if (net && !s.linux_.has_namespace(NsType::Network)) {
                return fail(Error::msg("linux.sysctl.{}: needs a new network namespace", k));
            }
            if (ipc && !s.linux_.has_namespace(NsType::Ipc)) {
                return fail(Error::msg("linux.sysctl.{}: needs a new ipc namespace", k));
            }
            if (!net && !ipc && k != "kernel.hostname" && k != "kernel.domainname") {
                return fail(
                    Error::msg("linux.sysctl.{}: not namespaced; it would change the host", k));
            }
        }
    }
    if (j.contains("annotations")) {
        GANTRY_TRY(check_object(j["annotations"], "annotations"));
        for (const auto& [k, v] : j["annotations"].items()) {
            if (!v.is_string()) {
                return fail(type_error("annotations." + k, "a string", v));
            }
            s.annotations[k] = v.get<std::string>();
        }
    }
    return s;
}

Result<Spec> parse_spec(std::string_view json_text) {
    json j = json::parse(json_text, nullptr, false);
    if (j.is_discarded()) {
        // Parse again with exceptions for the position; only on the error path.
        try {
            json ignored = json::parse(json_text);
            (void)ignored;
        } catch (const json::parse_error& e) {
            return fail(Error::msg("config.json: not valid JSON: {}", e.what()));
        }
        return fail(Error::msg("config.json: not valid JSON"));
    }
    return parse_spec_json(j);
}

Result<Spec> load_bundle(const std::string& bundle_dir) {
    std::string path = bundle_dir + "/config.json";
    std::string text = GANTRY_TRY(read_file(path));
    Spec s = GANTRY_TRY_CTX(parse_spec(text), "{}", path);
    if (s.root.path[0] != '/') {
        s.root.path = bundle_dir + "/" + s.root.path;
    }
    return s;
}

}  // namespace gantry::runtime
