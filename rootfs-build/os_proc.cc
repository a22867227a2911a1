#include "rootfs-build/os_proc.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/strings.h"

extern char** environ;

namespace gantry::osimage {

Result<std::string> run_capture(const std::vector<std::string>& argv, const std::string& cwd) {
    if (argv.empty()) {
        return fail(Error::msg("run: empty command"));
    }
    auto pipe = GANTRY_TRY(make_pipe());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipe.write.get(), 1);
    if (!cwd.empty()) {
        posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    }
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    pipe.write.reset();
    if (rc != 0) {
        return fail(Error::with_errno(rc, fmt::format("run {}", argv[0])));
    }
    auto out = read_all(pipe.read.get());
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!out) {
        return fail(std::move(out).error().context(fmt::format("run {}", argv[0])));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail(Error::msg("'{}' failed (status {})", join(argv, " "), status));
    }
    return std::move(*out);
}

}  // namespace gantry::osimage
