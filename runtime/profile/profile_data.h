// The default profile's JSON text, embedded at build time by runtime/profile/embed.cmake from
// default-seccomp.json and default-profile.json. Use the parsed accessors in
// runtime/seccomp.h (default_seccomp_profile(), default_profile()) rather than these.
#pragma once

namespace gantry::runtime::profile_data {

extern const char kDefaultSeccomp[];
extern const char kDefaultProfile[];

}  // namespace gantry::runtime::profile_data
