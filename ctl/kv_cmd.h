// `gantryctl kv ...`: the discovery store from the command line. Works against gantry-kv
// or any etcd's JSON gateway (--endpoint / GANTRY_KV_ENDPOINT).
#pragma once

namespace gantry::ctl {

// argv[0] is "kv"; returns the process exit code.
int kv_cli_main(int argc, char** argv);

}  // namespace gantry::ctl
