#include "runtime/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "base/capability_names.h"
#include "base/strings.h"

namespace gantry::runtime {
namespace {

static_assert(CAP_CHECKPOINT_RESTORE == kLastKnownCap, "capability table out of date");

constexpr std::array<std::string_view, 5> kSetNames = {"bounding", "effective", "inheritable",
                                                       "permitted", "ambient"};

uint64_t* set_by_name(CapSets& sets, std::string_view name) {
    if (name == "bounding") {
        return &sets.bounding;
    }
    if (name == "effective") {
        return &sets.effective;
    }
    if (name == "inheritable") {
        return &sets.inheritable;
    }
    if (name == "permitted") {
        return &sets.permitted;
    }
    if (name == "ambient") {
        return &sets.ambient;
    }
    return nullptr;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return out;
}

// "did you mean" for a capability: typos, but also the common "SYS_ADMIN" / "cap_chown"
// spellings that Docker's CLI accepts and the OCI spec does not.
std::string suggest_capability(std::string_view name) {
    std::string up = upper(name);
    if (!up.starts_with("CAP_")) {
        up = "CAP_" + up;
    }
    if (capability_number(up) >= 0) {
        return up;
    }
    std::vector<std::string> all(kCapNames.begin(), kCapNames.end());
    return closest_match(name, all);
}

// Raw capget/capset: libcap would allocate, and the child must not.
int raw_capget(__user_cap_data_struct (&data)[2]) noexcept {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    return static_cast<int>(syscall(SYS_capget, &hdr, data));
}

int raw_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) noexcept {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2];
    data[0].effective = static_cast<uint32_t>(effective);
    data[0].permitted = static_cast<uint32_t>(permitted);
    data[0].inheritable = static_cast<uint32_t>(inheritable);
    data[1].effective = static_cast<uint32_t>(effective >> 32);
    data[1].permitted = static_cast<uint32_t>(permitted >> 32);
    data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
    return static_cast<int>(syscall(SYS_capset, &hdr, data));
}

}  // namespace

int capability_number(std::string_view name) {
    for (size_t i = 0; i < kCapNames.size(); ++i) {
        if (kCapNames[i] == name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::vector<std::string> capability_names(uint64_t mask) {
    std::vector<std::string> out;
    for (int bit = 0; bit < 64; ++bit) {
        if ((mask >> bit) & 1) {
            out.push_back(bit <= kLastKnownCap ? std::string(kCapNames[bit])
                                               : fmt::format("CAP_{}", bit));
        }
    }
    return out;
}

Result<uint64_t> parse_cap_mask_hex(std::string_view hex) {
    hex = trim(hex);
    if (hex.empty() || hex.size() > 16) {
        return fail(Error::msg("capability mask \"{}\" is not 1 to 16 hex digits", hex));
    }
    uint64_t v = 0;
    for (char c : hex) {
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0) {
            return fail(Error::msg("capability mask \"{}\" is not hex", hex));
        }
        v = (v << 4) | static_cast<uint64_t>(d);
    }
    return v;
}

Result<CapSets> parse_capabilities(const nlohmann::json& j, std::string_view path) {
    CapSets sets;
    if (j.is_null()) {
        return sets;
    }
    if (!j.is_object()) {
        return fail(
            Error::msg("{}: must be an object with bounding, effective, inheritable, "
                       "permitted, ambient",
                       path));
    }
    for (const auto& [key, value] : j.items()) {
        uint64_t* mask = set_by_name(sets, key);
        if (mask == nullptr) {
            std::string hint =
                closest_match(key, std::vector<std::string>(kSetNames.begin(), kSetNames.end()));
            return fail(Error::msg(
                "{}.{}: unknown capability set (expected bounding, effective, "
                "inheritable, permitted or ambient){}",
                path, key, hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
        }
        if (value.is_null()) {
            continue;
        }
        if (!value.is_array()) {
            return fail(Error::msg("{}.{}: must be an array of capability names", path, key));
        }
        for (size_t i = 0; i < value.size(); ++i) {
            const auto& item = value[i];
            if (!item.is_string()) {
                return fail(
                    Error::msg("{}.{}[{}]: must be a string such as \"CAP_CHOWN\"", path, key, i));
            }
            const auto& name = item.get_ref<const std::string&>();
            int num = capability_number(name);
            if (num < 0) {
                std::string hint = suggest_capability(name);
                return fail(
                    Error::msg("{}.{}[{}]: unknown capability \"{}\"{}", path, key, i, name,
                               hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
            }
            *mask |= uint64_t{1} << num;
        }
    }
    return sets;
}

namespace {

uint64_t probe_kernel_capabilities() noexcept {
    // The kernel's own limit: PR_CAPBSET_READ fails with EINVAL past cap_last_cap. Asking the
    // kernel beats reading /proc/sys/kernel/cap_last_cap, which may not be mounted yet.
    uint64_t supported = 0;
    for (int cap = 0; cap < 64; ++cap) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) {
            break;
        }
        supported |= uint64_t{1} << cap;
    }
    return supported;
}

}  // namespace

uint64_t kernel_capabilities() noexcept {
    static const uint64_t supported = probe_kernel_capabilities();
    return supported;
}

int apply_capabilities(const CapSets& caps, uint64_t supported) noexcept {
    if (supported == 0) {
        supported = probe_kernel_capabilities();
    }

    // 1. Raise effective to the whole permitted set: setresuid() to a non-zero uid cleared
    //    effective even with KEEPCAPS, and PR_CAPBSET_DROP needs CAP_SETPCAP in effective.
    __user_cap_data_struct cur[2];
    if (raw_capget(cur) < 0) {
        return -errno;
    }
    uint64_t permitted = (uint64_t{cur[1].permitted} << 32) | cur[0].permitted;
    uint64_t inheritable = (uint64_t{cur[1].inheritable} << 32) | cur[0].inheritable;
    if (raw_capset(permitted, permitted, inheritable) < 0) {
        return -errno;
    }

    // 2. Drop everything outside the bounding set. Dropping is one-way for this process tree,
    //    which is the point: nothing after exec (setuid binaries, file caps) can get them back.
    for (int cap = 0; cap < 64; ++cap) {
        uint64_t bit = uint64_t{1} << cap;
        if ((supported & bit) == 0 || (caps.bounding & bit) != 0) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            return -errno;
        }
    }

    // 3. The three capset sets in one call. Effective must be a subset of permitted, and
    //    inheritable of bounding | old inheritable: the kernel says EPERM otherwise.
    if (raw_capset(caps.effective & supported, caps.permitted & supported,
                   caps.inheritable & supported) < 0) {
        return -errno;
    }

    // 4. Ambient last: a cap can only be raised there when it is already both permitted and
    //    inheritable. Clear first so nothing inherited from the runtime slips through.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        // EINVAL: kernel before 4.3 with no ambient set; fine unless one is requested.
        if (errno != EINVAL || (caps.ambient & supported) != 0) {
            return -errno;
        }
    }
    for (int cap = 0; cap < 64; ++cap) {
        uint64_t bit = uint64_t{1} << cap;
        if ((caps.ambient & supported & bit) == 0) {
            continue;
        }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
            return -errno;
        }
    }

    // 5. KEEPCAPS (step 1 of the ordering rules) has done its job; execve resets it anyway,
    //    but a later setuid() before exec must not keep capabilities by surprise.
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
        return -errno;
    }
    return 0;
}

}  // namespace gantry::runtime
