#include "rootfs-build/os_seccomp.h"

#include "runtime/seccomp.h"
#include "runtime/security_steps.h"

namespace gantry::osimage {

Result<std::string> add_seccomp_programs(CpioArchive& a) {
    const auto& profile = runtime::default_seccomp_profile();
    auto prog = GANTRY_TRY_CTX(runtime::compile_seccomp(profile, "linux.seccomp"),
                               "the default seccomp profile");
    std::string key = runtime::seccomp_cache_key(profile);
    // Archive paths are relative: the prebuilt dir without its leading '/'.
    std::string path =
        runtime::seccomp_cache_file(std::string(runtime::kSeccompPrebuiltDir).substr(1), key);
    a.add_file(path, runtime::serialize_seccomp_program(key, *prog), 0644);
    return path;
}

}  // namespace gantry::osimage
