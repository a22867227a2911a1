// Exec benchmark (issue 6): what one health check costs the supervisor before the check's
// own program runs. One container (busybox `sleep`, Gantry's default spec: pid, mount, uts,
// ipc, net and cgroup namespaces, Docker's capabilities, the default seccomp profile) is
// started once; then N execs of /bin/true go into it through Container::exec, as
// ContainerDriver::exec does. The caller first grows to --ballast-mb of touched memory,
// because the supervisor is PID 1 with a large address space, and a fork copies its page
// tables. Prints median and p95 of "exec returned" (the process has execve'd) and of
// "exec + wait", plus per-exec counts from getrusage: page faults and context switches of
// the caller, page faults of the reaped children.
//
//   gantry-exec-bench [--iterations N] [--ballast-mb MB] [--cgroup-root DIR]
//                     [--path spawn|fork] [--smoke]
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench/runtime/stats.h"
#include "runtime/container.h"
#include "runtime/default_spec.h"
#include "runtime/security_steps.h"

using namespace gantry;
using namespace gantry::runtime;

namespace {

using gantry::bench::make_busybox_workdir;
using gantry::bench::now_ms;
using gantry::bench::percentile;

struct Counts {
    long minflt = 0, nvcsw = 0, nivcsw = 0, child_minflt = 0;
};

Counts counts() {
    struct rusage self, kids;
    ::getrusage(RUSAGE_SELF, &self);
    ::getrusage(RUSAGE_CHILDREN, &kids);
    return {self.ru_minflt, self.ru_nvcsw, self.ru_nivcsw, kids.ru_minflt};
}

struct Series {
    std::string name;
    std::vector<double> exec_ms, total_ms;
    Counts delta;
    int failures = 0;
    std::string first_error;
};

// Appends n execs to s.
void run_series(Series& s, Container& c, const Process& proto, const ExecOptions& eo, int n) {
    Counts before = counts();
    for (int i = 0; i < n; i++) {
        Process p = proto;
        double t0 = now_ms();
        auto pfd = c.exec(p, eo);
        double t1 = now_ms();
        if (!pfd) {
            if (s.failures++ == 0) {
                s.first_error = pfd.error().str();
            }
            continue;
        }
        auto st = pfd->wait();
        double t2 = now_ms();
        if (!st || !st->success()) {
            if (s.failures++ == 0) {
                s.first_error = st ? st->str() : st.error().str();
            }
            continue;
        }
        s.exec_ms.push_back(t1 - t0);
        s.total_ms.push_back(t2 - t0);
    }
    Counts after = counts();
    s.delta.minflt += after.minflt - before.minflt;
    s.delta.nvcsw += after.nvcsw - before.nvcsw;
    s.delta.nivcsw += after.nivcsw - before.nivcsw;
    s.delta.child_minflt += after.child_minflt - before.child_minflt;
}

}  // namespace

int main(int argc, char** argv) {
    int iterations = 200;
    long ballast_mb = 64;
    bool smoke = false;
    std::string cgroup_root;
    std::string only;  // "spawn" or "fork": one path only (e.g. under strace -f -c)
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--iterations" && i + 1 < argc) {
            iterations = std::stoi(argv[++i]);
        } else if (a == "--ballast-mb" && i + 1 < argc) {
            ballast_mb = std::stol(argv[++i]);
        } else if (a == "--cgroup-root" && i + 1 < argc) {
            cgroup_root = argv[++i];
        } else if (a == "--path" && i + 1 < argc) {
            only = argv[++i];
        } else if (a == "--smoke") {
            smoke = true;
            iterations = 3;
            ballast_mb = 0;
        } else {
            fmt::print(stderr,
                       "usage: gantry-exec-bench [--iterations N] [--ballast-mb MB] "
                       "[--cgroup-root DIR] [--path spawn|fork] [--smoke]\n");
            return 2;
        }
    }
    if (::geteuid() != 0 || ::access("/bin/busybox", X_OK) != 0) {
        fmt::print(stderr, "needs root and /bin/busybox\n");
        return smoke ? 0 : 1;
    }
    if (cgroup_root.empty()) {
        // This host's hybrid layout has its cgroup2 at /sys/fs/cgroup/unified: use it, so the
        // exec joins a real cgroup as it does inside the OS.
        cgroup_root = ::access("/sys/fs/cgroup/unified/cgroup.controllers", R_OK) == 0
                          ? "/sys/fs/cgroup/unified"
                          : "/sys/fs/cgroup";
    }
    // PID 1's address space: anonymous memory, touched, so its page tables are populated.
    size_t ballast = static_cast<size_t>(ballast_mb) << 20;
    void* mem = nullptr;
    if (ballast > 0) {
        mem = ::mmap(nullptr, ballast, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            fmt::print(stderr, "mmap ballast failed\n");
            return 1;
        }
        ::memset(mem, 1, ballast);
    }

    std::string work = make_busybox_workdir("/tmp/gantry-exec-bench-XXXXXX", {"true", "sleep"});
    if (work.empty()) {
        fmt::print(stderr, "cannot make a busybox rootfs under /tmp\n");
        return 1;
    }
    std::string rootfs = work + "/rootfs";
    DefaultSpecOptions o;
    o.security = security_built();
    auto spec = parse_spec_json([&] {
        auto j = default_spec(o);
        j["process"]["args"] = {"/bin/sleep", "3600"};
        j["root"]["path"] = rootfs;
        return j;
    }());
    if (!spec) {
        fmt::print(stderr, "spec: {}\n", spec.error().str());
        return 1;
    }
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ContainerOptions co;
    co.id = fmt::format("exec-bench-{}", ::getpid());
    co.bundle = work;
    co.stdin_fd = co.stdout_fd = co.stderr_fd = devnull;
    co.cgroup_root = cgroup_root;
    auto c = Container::create(*spec, co);
    if (!c || !c->start()) {
        fmt::print(stderr, "container: {}\n", c ? "start failed" : c.error().str());
        std::system(fmt::format("rm -rf {}", work).c_str());
        return 1;
    }
    Process proto = spec->process;
    proto.args = {"/bin/true"};
    ExecOptions eo;
    eo.stdout_fd = eo.stderr_fd = devnull;

    // Both paths, in alternating blocks so machine noise hits them alike: the spawn path
    // (what Container::exec takes) and the forking one (its fallback, and before issue 6
    // the only one).
    ExecOptions fork_eo = eo;
    fork_eo.force_fork = true;
    std::vector<Series> series = {{"Container::exec (spawn)"}, {"force_fork (forking path)"}};
    std::vector<const ExecOptions*> opts = {&eo, &fork_eo};
    if (only == "spawn" || only == "fork") {
        size_t drop = only == "spawn" ? 1 : 0;
        series.erase(series.begin() + static_cast<long>(drop));
        opts.erase(opts.begin() + static_cast<long>(drop));
    }
    for (size_t k = 0; k < series.size(); k++) {
        Series warm{series[k].name};
        run_series(warm, *c, proto, *opts[k], 2);
    }
    constexpr int kBlock = 10;
    for (int done = 0; done < iterations; done += kBlock) {
        for (size_t k = 0; k < series.size(); k++) {
            run_series(series[k], *c, proto, *opts[k], std::min(kBlock, iterations - done));
        }
    }

    fmt::print("{} execs of /bin/true, caller ballast {} MiB, cgroup {}, {} CPUs\n", iterations,
               ballast_mb, c->cgroup_path().empty() ? "none" : c->cgroup_path(),
               ::sysconf(_SC_NPROCESSORS_ONLN));
    fmt::print("{:<28} {:>10} {:>10} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>5}\n", "path",
               "exec med", "exec p95", "+wait med", "+wait p95", "minflt", "vcsw", "ivcsw",
               "kid flt", "fail");
    bool ok = true;
    for (const auto& s : series) {
        double n = std::max<double>(1, static_cast<double>(s.exec_ms.size() + s.failures));
        fmt::print(
            "{:<28} {:>8.3f}ms {:>8.3f}ms {:>10.3f}ms {:>10.3f}ms {:>9.1f} {:>9.1f} {:>9.1f} "
            "{:>9.1f} {:>5}\n",
            s.name, percentile(s.exec_ms, 0.5), percentile(s.exec_ms, 0.95),
            percentile(s.total_ms, 0.5), percentile(s.total_ms, 0.95),
            static_cast<double>(s.delta.minflt) / n, static_cast<double>(s.delta.nvcsw) / n,
            static_cast<double>(s.delta.nivcsw) / n, static_cast<double>(s.delta.child_minflt) / n,
            s.failures);
        if (s.failures > 0) {
            fmt::print("    first failure: {}\n", s.first_error.substr(0, 300));
            ok = false;
        }
    }
    (void)c->destroy();
    std::system(fmt::format("rm -rf {}", work).c_str());
    if (mem != nullptr) {
        ::munmap(mem, ballast);
    }
    return ok ? 0 : 1;
}
