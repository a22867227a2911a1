// Compiled seccomp programs on disk. The library compiles a profile once per process; a
// `gantry-oci run` is a new process every time, and libseccomp's compile of a ~300-syscall
// allowlist costs it a few milliseconds and ~0.4 MiB of heap (docs/runtime.md, Benchmark).
// gantry-oci therefore keeps the exported BPF under its --root, keyed by the profile.
//
// The file holds the whole key (the profile's JSON text, the libseccomp version and the
// native arch) and is used only when that key matches byte for byte: a hash collision or a
// libseccomp upgrade can never load another profile's filter. The kernel checks the BPF
// itself at seccomp(2). The directory is root's (--root is 0700 by default), and whoever can
// write there can already replace the runtime's state.
#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "runtime/seccomp.h"

namespace gantry::runtime {
namespace {

constexpr std::string_view kMagic = "GANTRY-SECCOMP-BPF-1\n";

uint64_t fnv1a64(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h;
}

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool get(std::string_view& in, T& v) {
    if (in.size() < sizeof v) {
        return false;
    }
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return true;
}

}  // namespace

std::string seccomp_cache_key(const nlohmann::json& linux_seccomp) {
    const scmp_version* v = seccomp_version();
    return fmt::format("{}\nlibseccomp {}.{}.{}\narch {:#x}\n", linux_seccomp.dump(), v->major,
                       v->minor, v->micro, seccomp_arch_native());
}

std::string seccomp_cache_file(const std::string& dir, std::string_view key) {
    return fmt::format("{}/{:016x}.bpf", dir, fnv1a64(key));
}

Result<std::shared_ptr<const SeccompProgram>> load_seccomp_program(const std::string& path,
                                                                   std::string_view key) {
    Fd fd = GANTRY_TRY(Fd::open(path, O_RDONLY));
    std::string data = GANTRY_TRY_CTX(read_all(fd.get()), "read {}", path);
    std::string_view in = data;
    uint64_t key_len = 0;
    if (!in.starts_with(kMagic)) {
        return fail(Error::msg("{}: not a gantry seccomp cache file", path));
    }
    in.remove_prefix(kMagic.size());
    if (!get(in, key_len) || in.size() < key_len || in.substr(0, key_len) != key) {
        return fail(Error::msg("{}: compiled from another profile", path));
    }
    in.remove_prefix(key_len);
    auto prog = std::make_shared<SeccompProgram>();
    uint32_t count = 0;
    if (!get(in, prog->flags) || !get(in, count) || count == 0 || count > BPF_MAXINSNS ||
        in.size() != count * sizeof(sock_filter)) {
        return fail(Error::msg("{}: truncated or malformed", path));
    }
    prog->filter.resize(count);
    std::memcpy(prog->filter.data(), in.data(), in.size());
    return std::shared_ptr<const SeccompProgram>(std::move(prog));
}

Status store_seccomp_program(const std::string& path, std::string_view key,
                             const SeccompProgram& prog) {
    // Atomic (temp file + rename): concurrent gantry-oci processes may store the same entry.
    return write_file_atomic(path, serialize_seccomp_program(key, prog), 0600);
}

std::string serialize_seccomp_program(std::string_view key, const SeccompProgram& prog) {
    std::string out(kMagic);
    put(out, static_cast<uint64_t>(key.size()));
    out.append(key);
    put(out, static_cast<uint32_t>(prog.flags));
    put(out, static_cast<uint32_t>(prog.filter.size()));
    out.append(reinterpret_cast<const char*>(prog.filter.data()),
               prog.filter.size() * sizeof(sock_filter));
    return out;
}

}  // namespace gantry::runtime
