// linux.seccomp parsing, the raw install step, and the embedded default profile.
// Compilation with libseccomp is in seccomp_compile.cc.
#include "runtime/seccomp.h"

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/strings.h"
#include "runtime/profile/profile_data.h"

namespace gantry::runtime {
namespace {

using nlohmann::json;

struct Named {
    std::string_view name;
    uint32_t value;
};

// Values are the kernel's SECCOMP_RET_* (libseccomp's SCMP_ACT_* are the same numbers).
constexpr std::array<Named, 8> kActions = {{
    {"SCMP_ACT_KILL", SECCOMP_RET_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", SECCOMP_RET_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SECCOMP_RET_TRAP},
    {"SCMP_ACT_ERRNO", SECCOMP_RET_ERRNO},
    {"SCMP_ACT_TRACE", SECCOMP_RET_TRACE},
    {"SCMP_ACT_ALLOW", SECCOMP_RET_ALLOW},
    {"SCMP_ACT_LOG", SECCOMP_RET_LOG},
}};

constexpr std::array<Named, 4> kFlags = {{
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    // Only meaningful with a user-notify listener, which gantry does not support; the kernel
    // refuses it without one (EINVAL), so it is accepted and dropped so crun specs parse.
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 0},
}};

constexpr std::array<std::pair<std::string_view, SeccompOp>, 7> kOps = {{
    {"SCMP_CMP_NE", SeccompOp::NotEqual},
    {"SCMP_CMP_LT", SeccompOp::LessThan},
    {"SCMP_CMP_LE", SeccompOp::LessEqual},
    {"SCMP_CMP_EQ", SeccompOp::Equal},
    {"SCMP_CMP_GE", SeccompOp::GreaterEqual},
    {"SCMP_CMP_GT", SeccompOp::GreaterThan},
    {"SCMP_CMP_MASKED_EQ", SeccompOp::MaskedEqual},
}};

constexpr std::array<std::string_view, 19> kArches = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
};

template <typename Range, typename Proj>
std::string did_you_mean(std::string_view word, const Range& range, Proj proj) {
    std::vector<std::string> names;
    for (const auto& item : range) {
        names.emplace_back(proj(item));
    }
    std::string hint = closest_match(word, names);
    return hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint);
}

// Unknown keys: a near miss of a known key is an error (a typo silently ignored would weaken
// the profile); anything else is ignored, so Docker-style extras ("comment", "includes")
// and future OCI fields pass.
Status check_keys(const json& obj, std::string_view path, const std::vector<std::string>& known) {
    for (const auto& [key, value] : obj.items()) {
        (void)value;
        bool found = false;
        for (const auto& k : known) {
            found = found || k == key;
        }
        if (found) {
            continue;
        }
        std::string hint = closest_match(key, known);
        if (!hint.empty()) {
            return fail(Error::msg("{}.{}: unknown field (did you mean \"{}\"?)", path, key, hint));
        }
    }
    return ok();
}

Result<uint64_t> get_u64(const json& j, std::string_view path) {
    if (j.is_number_unsigned()) {
        return j.get<uint64_t>();
    }
    if (j.is_number_integer()) {
        // Negative values appear in hand-written profiles for flags such as -1; the kernel
        // sees the 64-bit two's complement, so keep that.
        return static_cast<uint64_t>(j.get<int64_t>());
    }
    return fail(Error::msg("{}: must be an integer", path));
}

Result<uint32_t> parse_action(const json& j, const json* errno_ret, std::string_view path,
                              std::string_view errno_path) {
    if (!j.is_string()) {
        return fail(Error::msg("{}: must be a string such as \"SCMP_ACT_ERRNO\"", path));
    }
    const auto& name = j.get_ref<const std::string&>();
    if (name == "SCMP_ACT_NOTIFY") {
        return fail(
            Error::msg("{}: SCMP_ACT_NOTIFY is not supported by gantry (no seccomp "
                       "agent); use SCMP_ACT_ERRNO or SCMP_ACT_LOG",
                       path));
    }
    for (const auto& a : kActions) {
        if (a.name != name) {
            continue;
        }
        bool takes_data = a.value == SECCOMP_RET_ERRNO || a.value == SECCOMP_RET_TRACE;
        if (errno_ret == nullptr || errno_ret->is_null()) {
            // OCI: errnoRet defaults to EPERM for SCMP_ACT_ERRNO.
            return a.value == SECCOMP_RET_ERRNO ? (a.value | EPERM) : a.value;
        }
        if (!takes_data) {
            return fail(
                Error::msg("{}: only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
                           "not {}",
                           errno_path, name));
        }
        uint64_t v = GANTRY_TRY(get_u64(*errno_ret, errno_path));
        // MAX_ERRNO: the kernel clamps larger SECCOMP_RET_ERRNO data, which would surprise.
        uint64_t max = a.value == SECCOMP_RET_ERRNO ? 4095 : 0xffff;
        if (v > max) {
            return fail(Error::msg("{}: {} is out of range 0..{}", errno_path, v, max));
        }
        return a.value | static_cast<uint32_t>(v);
    }
    return fail(Error::msg("{}: unknown action \"{}\"{}", path, name,
                           did_you_mean(name, kActions, [](const Named& n) { return n.name; })));
}

Result<SeccompArg> parse_arg(const json& j, std::string_view path) {
    if (!j.is_object()) {
        return fail(Error::msg("{}: must be an object with index, value, op", path));
    }
    GANTRY_TRY(check_keys(j, path, {"index", "value", "valueTwo", "op"}));
    SeccompArg arg;
    if (!j.contains("index")) {
        return fail(Error::msg("{}.index: required", path));
    }
    uint64_t index = GANTRY_TRY(get_u64(j["index"], fmt::format("{}.index", path)));
    if (index > 5) {
        return fail(Error::msg("{}.index: {} is out of range 0..5 (syscalls take six arguments)",
                               path, index));
    }
    arg.index = static_cast<unsigned>(index);
    if (!j.contains("value")) {
        return fail(Error::msg("{}.value: required", path));
    }
    arg.value = GANTRY_TRY(get_u64(j["value"], fmt::format("{}.value", path)));
    if (j.contains("valueTwo")) {
        arg.value_two = GANTRY_TRY(get_u64(j["valueTwo"], fmt::format("{}.valueTwo", path)));
    }
    if (!j.contains("op") || !j["op"].is_string()) {
        return fail(Error::msg("{}.op: required, a string such as \"SCMP_CMP_EQ\"", path));
    }
    const auto& op = j["op"].get_ref<const std::string&>();
    for (const auto& [name, value] : kOps) {
        if (name == op) {
            arg.op = value;
            return arg;
        }
    }
    return fail(Error::msg("{}.op: unknown operator \"{}\"{}", path, op,
                           did_you_mean(op, kOps, [](const auto& p) { return p.first; })));
}

Result<SeccompRule> parse_rule(const json& j, std::string_view path) {
    if (!j.is_object()) {
        return fail(Error::msg("{}: must be an object with names and action", path));
    }
    GANTRY_TRY(check_keys(j, path, {"names", "action", "errnoRet", "args"}));
    SeccompRule rule;
    rule.path = std::string(path);
    if (!j.contains("names") || !j["names"].is_array() || j["names"].empty()) {
        return fail(Error::msg("{}.names: required, a non-empty array of syscall names", path));
    }
    const auto& names = j["names"];
    for (size_t i = 0; i < names.size(); ++i) {
        if (!names[i].is_string() || names[i].get_ref<const std::string&>().empty()) {
            return fail(Error::msg("{}.names[{}]: must be a syscall name", path, i));
        }
        rule.names.push_back(names[i].get<std::string>());
    }
    if (!j.contains("action")) {
        return fail(Error::msg("{}.action: required", path));
    }
    const json* errno_ret = j.contains("errnoRet") ? &j["errnoRet"] : nullptr;
    rule.action = GANTRY_TRY(parse_action(j["action"], errno_ret, fmt::format("{}.action", path),
                                          fmt::format("{}.errnoRet", path)));
    if (j.contains("args") && !j["args"].is_null()) {
        if (!j["args"].is_array()) {
            return fail(Error::msg("{}.args: must be an array", path));
        }
        for (size_t i = 0; i < j["args"].size(); ++i) {
            rule.args.push_back(
                GANTRY_TRY(parse_arg(j["args"][i], fmt::format("{}.args[{}]", path, i))));
        }
    }
    return rule;
}

}  // namespace

Result<SeccompSpec> parse_seccomp(const json& j, std::string_view path) {
    if (!j.is_object()) {
        return fail(Error::msg("{}: must be an object with defaultAction and syscalls", path));
    }
    GANTRY_TRY(check_keys(j, path,
                          {"defaultAction", "defaultErrnoRet", "architectures", "flags",
                           "listenerPath", "listenerMetadata", "syscalls"}));
    SeccompSpec spec;
    if (!j.contains("defaultAction")) {
        return fail(Error::msg("{}.defaultAction: required (e.g. \"SCMP_ACT_ERRNO\")", path));
    }
    const json* def_errno = j.contains("defaultErrnoRet") ? &j["defaultErrnoRet"] : nullptr;
    spec.default_action = GANTRY_TRY(parse_action(j["defaultAction"], def_errno,
                                                  fmt::format("{}.defaultAction", path),
                                                  fmt::format("{}.defaultErrnoRet", path)));
    if (j.contains("listenerPath") && !j["listenerPath"].is_null()) {
        return fail(
            Error::msg("{}.listenerPath: seccomp user notification is not supported by "
                       "gantry",
                       path));
    }
    if (j.contains("architectures") && !j["architectures"].is_null()) {
        const auto& arches = j["architectures"];
        if (!arches.is_array()) {
            return fail(Error::msg("{}.architectures: must be an array", path));
        }
        for (size_t i = 0; i < arches.size(); ++i) {
            std::string item_path = fmt::format("{}.architectures[{}]", path, i);
            if (!arches[i].is_string()) {
                return fail(
                    Error::msg("{}: must be a string such as \"SCMP_ARCH_X86_64\"", item_path));
            }
            const auto& name = arches[i].get_ref<const std::string&>();
            bool known = false;
            for (auto a : kArches) {
                known = known || a == name;
            }
            if (!known) {
                return fail(Error::msg("{}: unknown architecture \"{}\"{}", item_path, name,
                                       did_you_mean(name, kArches, [](auto a) { return a; })));
            }
            // "SCMP_ARCH_X86_64" -> "x86_64", the name seccomp_arch_resolve_name() takes.
            std::string lower = name.substr(std::string_view("SCMP_ARCH_").size());
            for (char& c : lower) {
                c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            spec.architectures.push_back(lower);
        }
    }
    if (j.contains("flags") && !j["flags"].is_null()) {
        const auto& flags = j["flags"];
        if (!flags.is_array()) {
            return fail(Error::msg("{}.flags: must be an array", path));
        }
        for (size_t i = 0; i < flags.size(); ++i) {
            std::string item_path = fmt::format("{}.flags[{}]", path, i);
            std::string name = flags[i].is_string() ? flags[i].get<std::string>() : "";
            if (name == "SECCOMP_FILTER_FLAG_NEW_LISTENER") {
                return fail(Error::msg("{}: seccomp user notification is not supported by gantry",
                                       item_path));
            }
            bool found = false;
            for (const auto& f : kFlags) {
                if (f.name == name) {
                    spec.flags |= f.value;
                    found = true;
                }
            }
            if (!found) {
                return fail(
                    Error::msg("{}: unknown flag \"{}\"{}", item_path, name,
                               did_you_mean(name, kFlags, [](const Named& n) { return n.name; })));
            }
        }
    }
    if (j.contains("syscalls") && !j["syscalls"].is_null()) {
        const auto& syscalls = j["syscalls"];
        if (!syscalls.is_array()) {
            return fail(Error::msg("{}.syscalls: must be an array", path));
        }
        for (size_t i = 0; i < syscalls.size(); ++i) {
            spec.rules.push_back(
                GANTRY_TRY(parse_rule(syscalls[i], fmt::format("{}.syscalls[{}]", path, i))));
        }
    }
    return spec;
}

Result<std::shared_ptr<const SeccompProgram>> compile_seccomp(const json& linux_seccomp,
                                                              std::string_view path) {
    SeccompSpec spec = GANTRY_TRY(parse_seccomp(linux_seccomp, path));
    return compile_seccomp_spec(spec);
}

int install_seccomp(const SeccompProgram& prog) noexcept {
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.filter.size());
    fprog.filter = const_cast<sock_filter*>(prog.filter.data());
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, prog.flags, &fprog);
    if (r < 0) {
        return -errno;
    }
    // With TSYNC a positive return is the id of a thread that could not be synchronised.
    return r == 0 ? 0 : -EAGAIN;
}

const json& default_seccomp_profile() {
    // Parsed once; the embedded text is ours and tested, so a parse failure is a build bug.
    static const json profile = json::parse(profile_data::kDefaultSeccomp);
    return profile;
}

const json& default_profile_annotated() {
    static const json profile = json::parse(profile_data::kDefaultProfile);
    return profile;
}

const json& default_profile() {
    // Strip the reasons: entries are {"name"/"path"/..., "reason"} in the data file, and the
    // OCI shape is a plain list (or, for devices and namespaces, objects without "reason").
    static const json profile = [] {
        const json& a = default_profile_annotated();
        json out = json::object();
        // One list, used for bounding, effective and permitted. Inheritable and ambient stay
        // empty: a non-root service then ends up with no capabilities after execve, and a
        // root one with exactly the bounding set (see runtime/capabilities.h).
        json names = json::array();
        for (const auto& c : a.at("capabilities")) {
            names.push_back(c.at("name"));
        }
        json caps = {{"bounding", names},
                     {"effective", names},
                     {"permitted", names},
                     {"inheritable", json::array()},
                     {"ambient", json::array()}};
        out["capabilities"] = caps;
        for (const char* key : {"maskedPaths", "readonlyPaths"}) {
            json paths = json::array();
            for (const auto& p : a.at(key)) {
                paths.push_back(p.at("path"));
            }
            out[key] = paths;
        }
        for (const char* key : {"devices", "deviceCgroup", "namespaces"}) {
            json items = json::array();
            for (auto item : a.at(key)) {
                item.erase("reason");
                items.push_back(item);
            }
            out[key] = items;
        }
        return out;
    }();
    return profile;
}

}  // namespace gantry::runtime
