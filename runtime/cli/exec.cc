// gantry-oci exec ID [CMD ARGS...]: run another process in a running container. Without
// --process the container's own process settings are used with the given command (runc).
#include <unistd.h>

#include "base/fd.h"
#include "runtime/cli/common.h"

namespace gantry::runtime::cli {

namespace {

Result<int> exec(const Globals& g, int argc, char** argv) {
    std::string process_file, cwd, id;
    std::vector<std::string> env, args;
    int i = 1;
    for (; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--process" || a == "-p") {
            if (++i >= argc) {
                return fail(Error::msg("--process needs a file"));
            }
            process_file = argv[i];
        } else if (a == "--env" || a == "-e") {
            if (++i >= argc) {
                return fail(Error::msg("--env needs NAME=VALUE"));
            }
            env.push_back(argv[i]);
        } else if (a == "--cwd") {
            if (++i >= argc) {
                return fail(Error::msg("--cwd needs a directory"));
            }
            cwd = argv[i];
        } else if (a == "--tty" || a == "-t") {
            return fail(Error::msg("--tty: terminals are not supported"));
        } else if (a == "--") {
            continue;
        } else if (a.starts_with("-") && id.empty()) {
            return fail(Error::msg("unknown option {}", a));
        } else if (id.empty()) {
            id = argv[i];
        } else {
            args.push_back(argv[i]);
        }
    }
    if (id.empty()) {
        return fail(Error::msg("usage: exec [--process FILE] [--env K=V] [--cwd DIR] ID [CMD...]"));
    }
    StateDir sd(g.root);
    ContainerState st = GANTRY_TRY(sd.load(id));
    if (sd.status(st) != "running") {
        return fail(Error::msg("container \"{}\" is {}, not running", id, sd.status(st)));
    }
    Spec spec = GANTRY_TRY(load_bundle(st.bundle));
    Process proc = spec.process;
    if (!process_file.empty()) {
        std::string text = GANTRY_TRY(read_file(process_file));
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) {
            return fail(Error::msg("{}: not valid JSON", process_file));
        }
        proc = GANTRY_TRY_CTX(parse_process(j, "process"), "{}", process_file);
    } else if (args.empty()) {
        return fail(Error::msg("exec: give a command or --process FILE"));
    }
    if (!args.empty()) {
        proc.args = args;
    }
    for (auto& e : env) {
        proc.env.push_back(e);
    }
    if (!cwd.empty()) {
        proc.cwd = GANTRY_TRY_CTX(normalize_abs_path(cwd), "--cwd");
    }
    auto init = GANTRY_TRY(sd.open_init(st));
    if (!init) {
        return fail(Error::msg("container \"{}\" is stopped", id));
    }
    PidFd p = GANTRY_TRY(exec_in(*init, proc, spec.linux_.seccomp, st.cgroup_path, {}));
    ExitStatus es = GANTRY_TRY(p.wait());
    return es.kind == ExitStatus::Kind::Exited ? es.code : 128 + es.signal;
}

}  // namespace

int cmd_exec(const Globals& g, int argc, char** argv) {
    auto r = exec(g, argc, argv);
    if (!r) {
        return report("exec", r.error());
    }
    return *r;
}

}  // namespace gantry::runtime::cli
