// The default seccomp profile, compiled at build time: gantry-init looks programs up in
// /usr/lib/gantry/seccomp (runtime/security_steps.h: kSeccompPrebuiltDir) before it compiles,
// so the first container start of a boot does not run libseccomp's compile under TCG.
#pragma once

#include <string>

#include "base/error.h"
#include "rootfs-build/os_cpio.h"

namespace gantry::osimage {

// Compiles runtime::default_seccomp_profile() for this machine's arch and libseccomp (the
// library the image ships is this build's) and adds it to `a`. Returns the file's path in
// the archive. The file carries its whole key (profile text, libseccomp version, arch) and is
// loaded only if the key matches, so a mismatch costs a compile, never a wrong filter.
Result<std::string> add_seccomp_programs(CpioArchive& a);

}  // namespace gantry::osimage
