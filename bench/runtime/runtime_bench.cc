// Container start benchmark (issue 3): the same bundle (busybox /bin/true; pid, mount, uts,
// ipc and net namespaces; the default mounts and masked paths) through `gantry-oci run`,
// `crun run` and `runc run`, many iterations each, interleaved so that machine noise hits
// every runtime alike. Also the in-process start through the library (what the supervisor
// pays) and a bare `unshare` of the same namespaces. Prints median, p95, ratio to crun, and
// the peak RSS of one `run` (largest process of the tree, from wait4).
//
// Two bundles: "base" (no capabilities, no seccomp) and "full" (Docker's 14 capabilities,
// a deny-by-default seccomp allowlist). gantry-oci runs "full" when its security part is
// built, else "base" only. crun refuses this host's hybrid cgroup layout, so run.sh runs us
// in a private mount namespace with /sys/fs/cgroup/unified unmounted.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "bench/runtime/stats.h"
#include "runtime/container.h"
#include "runtime/default_spec.h"
#include "runtime/security_steps.h"

using namespace gantry;
using namespace gantry::runtime;
using json = nlohmann::json;

namespace {

struct Series {
    std::string name;
    std::vector<double> ms;
    long max_rss_kb = 0;
    int failures = 0;
    std::string first_error;
};

using gantry::bench::make_busybox_workdir;
using gantry::bench::now_ms;
using gantry::bench::percentile;

// fork + execvp, stdio to /dev/null (stderr to `err_path`), wait4 for the rusage.
void time_command(Series& s, const std::vector<std::string>& argv, const std::string& err_path) {
    std::vector<char*> av;
    for (const auto& a : argv) {
        av.push_back(const_cast<char*>(a.c_str()));
    }
    av.push_back(nullptr);
    double t0 = now_ms();
    pid_t pid = ::fork();
    if (pid == 0) {
        int null = ::open("/dev/null", O_RDWR);
        int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(err, 2);
        ::execvp(av[0], av.data());
        ::_exit(127);
    }
    int status = 0;
    struct rusage ru;
    ::wait4(pid, &status, 0, &ru);
    double t1 = now_ms();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (s.failures++ == 0) {
            std::ifstream in(err_path);
            std::stringstream ss;
            ss << in.rdbuf();
            s.first_error = ss.str();
        }
        return;
    }
    s.ms.push_back(t1 - t0);
    s.max_rss_kb = std::max(s.max_rss_kb, ru.ru_maxrss);
}

// A deny-by-default allowlist of every x86-64 syscall except the ones Docker's default
// profile blocks: a realistic filter size for crun and runc.
json seccomp_profile() {
    static const std::vector<std::string> blocked = {"add_key",
                                                     "bpf",
                                                     "clock_adjtime",
                                                     "clock_settime",
                                                     "create_module",
                                                     "delete_module",
                                                     "finit_module",
                                                     "get_kernel_syms",
                                                     "get_mempolicy",
                                                     "init_module",
                                                     "ioperm",
                                                     "iopl",
                                                     "kcmp",
                                                     "kexec_file_load",
                                                     "kexec_load",
                                                     "keyctl",
                                                     "lookup_dcookie",
                                                     "mbind",
                                                     "mount",
                                                     "move_pages",
                                                     "name_to_handle_at",
                                                     "nfsservctl",
                                                     "open_by_handle_at",
                                                     "perf_event_open",
                                                     "personality",
                                                     "pivot_root",
                                                     "process_vm_readv",
                                                     "process_vm_writev",
                                                     "ptrace",
                                                     "query_module",
                                                     "quotactl",
                                                     "reboot",
                                                     "request_key",
                                                     "set_mempolicy",
                                                     "setns",
                                                     "settimeofday",
                                                     "swapon",
                                                     "swapoff",
                                                     "sysfs",
                                                     "_sysctl",
                                                     "umount2",
                                                     "unshare",
                                                     "uselib",
                                                     "userfaultfd",
                                                     "ustat",
                                                     "vm86",
                                                     "vm86old",
                                                     "afs_syscall",
                                                     "tuxcall",
                                                     "security",
                                                     "vserver",
                                                     "putpmsg",
                                                     "getpmsg"};
    std::ifstream in("/usr/include/x86_64-linux-gnu/asm/unistd_64.h");
    std::string line;
    std::vector<std::string> names;
    std::regex re("#define __NR_([a-z0-9_]+) [0-9]+");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, re) &&
            std::find(blocked.begin(), blocked.end(), m[1].str()) == blocked.end()) {
            names.push_back(m[1]);
        }
    }
    return json{{"defaultAction", "SCMP_ACT_ERRNO"},
                {"defaultErrnoRet", 1},
                {"architectures", {"SCMP_ARCH_X86_64"}},
                {"syscalls", {{{"names", names}, {"action", "SCMP_ACT_ALLOW"}}}}};
}

void make_bundle(const std::string& dir, const std::string& rootfs, bool full) {
    ::mkdir(dir.c_str(), 0755);
    DefaultSpecOptions o;
    o.security = full;
    json j = default_spec(o);
    j["process"]["args"] = {"/bin/true"};
    j["root"]["path"] = rootfs;
    // The bundle: pid + mount + uts + ipc + net.
    j["linux"]["namespaces"] = {{{"type", "pid"}},
                                {{"type", "mount"}},
                                {{"type", "uts"}},
                                {{"type", "ipc"}},
                                {{"type", "network"}}};
    if (full) {
        j["linux"]["seccomp"] = seccomp_profile();
    }
    std::ofstream(dir + "/config.json") << j.dump(2);
}

int run_in_process(Series& s, const std::string& bundle, int n) {
    auto spec = load_bundle(bundle);
    if (!spec) {
        s.first_error = spec.error().str();
        return 1;
    }
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < n; i++) {
        ContainerOptions o;
        o.id = fmt::format("inproc-{}", i);
        o.bundle = bundle;
        o.stdin_fd = o.stdout_fd = o.stderr_fd = devnull;
        double t0 = now_ms();
        auto c = Container::create(*spec, o);
        if (!c) {
            s.failures++;
            s.first_error = c.error().str();
            continue;
        }
        auto st = c->start();
        auto w = c->wait();
        double t1 = now_ms();
        (void)c->destroy();
        if (st && w && w->success()) {
            s.ms.push_back(t1 - t0);
        } else {
            s.failures++;
        }
    }
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    s.max_rss_kb = ru.ru_maxrss;
    ::close(devnull);
    return 0;
}

bool have(const char* prog) {
    std::string cmd = fmt::format("command -v {} >/dev/null 2>&1", prog);
    return std::system(cmd.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    int iterations = 50;
    bool smoke = false;
    std::string oci = GANTRY_OCI_BIN;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--iterations" && i + 1 < argc) {
            iterations = std::stoi(argv[++i]);
        } else if (a == "--smoke") {
            smoke = true;
            iterations = 3;
        } else if (a == "--oci" && i + 1 < argc) {
            oci = argv[++i];
        } else {
            fmt::print(stderr,
                       "usage: gantry-runtime-bench [--iterations N] [--smoke] [--oci BIN]\n");
            return 2;
        }
    }
    if (::geteuid() != 0 || ::access("/bin/busybox", X_OK) != 0) {
        fmt::print(stderr, "needs root and /bin/busybox\n");
        return smoke ? 0 : 1;
    }
    std::string work = make_busybox_workdir("/tmp/gantry-bench-XXXXXX", {"true"});
    if (work.empty()) {
        fmt::print(stderr, "cannot make a busybox rootfs under /tmp\n");
        return 1;
    }
    std::string rootfs = work + "/rootfs";
    make_bundle(work + "/base", rootfs, false);
    make_bundle(work + "/full", rootfs, true);
    bool gantry_full = security_built();
    std::string err = work + "/stderr";

    struct Runner {
        std::string name;
        std::function<std::vector<std::string>(int)> argv;
    };
    std::vector<Runner> runners;
    auto oci_runner = [&](const std::string& name, const std::string& bin, const std::string& b) {
        std::string root = work + "/state-" + name;
        runners.push_back(
            {name, [=](int i) {
                 return std::vector<std::string>{
                     bin, "--root", root, "run", "--bundle", work + "/" + b, fmt::format("b{}", i)};
             }});
    };
    if (gantry_full) {
        oci_runner("gantry-oci run (full)", oci, "full");
    }
    // Base too, so the cost of capabilities + seccomp in gantry-oci shows next to crun's.
    oci_runner("gantry-oci run (base)", oci, "base");
    if (!smoke) {
        if (have("crun")) {
            oci_runner("crun run (base)", "crun", "base");
            oci_runner("crun run (full)", "crun", "full");
        }
        if (have("runc")) {
            oci_runner("runc run (base)", "runc", "base");
            oci_runner("runc run (full)", "runc", "full");
        }
        runners.push_back({"unshare -pmuin -f true", [](int) {
                               return std::vector<std::string>{"unshare", "-p", "-m", "-u",
                                                               "-i",      "-n", "-f", "/bin/true"};
                           }});
    }

    std::vector<Series> series(runners.size());
    for (size_t r = 0; r < runners.size(); r++) {
        series[r].name = runners[r].name;
        time_command(series[r], runners[r].argv(-1 - static_cast<int>(r)), err);  // warm-up
        series[r] = Series{runners[r].name, {}, 0, 0, {}};
    }
    // Interleaved: iteration i of every runtime, then i+1.
    for (int i = 0; i < iterations; i++) {
        for (size_t r = 0; r < runners.size(); r++) {
            time_command(series[r], runners[r].argv(i), err);
        }
    }
    // What one libseccomp compile of the "full" profile costs: every gantry-oci process pays
    // it once (the library caches per process; the supervisor pays it once per profile).
    if (gantry_full) {
        auto spec = load_bundle(work + "/full");
        if (spec) {
            double t0 = now_ms();
            auto sec = Security::prepare(nlohmann::json(nullptr), spec->linux_.seccomp);
            double t1 = now_ms();
            fmt::print("seccomp compile of the full profile, in-process, first time: {:.2f}ms{}\n",
                       t1 - t0, sec ? "" : " (failed: " + sec.error().str() + ")");
        }
    }
    Series inproc{"in-process Container (" + std::string(gantry_full ? "full" : "base") + ")"};
    run_in_process(inproc, work + "/" + (gantry_full ? "full" : "base"), iterations);
    series.push_back(inproc);

    double crun_median = 0;
    for (const auto& s : series) {
        if (s.name.rfind("crun run (" + std::string(gantry_full ? "full" : "base"), 0) == 0) {
            crun_median = percentile(s.ms, 0.5);
        }
    }
    fmt::print("{} iterations each, {} CPUs\n", iterations, ::sysconf(_SC_NPROCESSORS_ONLN));
    fmt::print("{:<36} {:>9} {:>9} {:>9} {:>10} {:>5}\n", "runtime", "median", "p95", "x crun",
               "peak RSS", "fail");
    bool ok = true;
    for (const auto& s : series) {
        double med = percentile(s.ms, 0.5);
        fmt::print("{:<36} {:>7.2f}ms {:>7.2f}ms {:>9} {:>7}KiB {:>5}\n", s.name, med,
                   percentile(s.ms, 0.95),
                   crun_median > 0 ? fmt::format("{:.2f}", med / crun_median) : "-", s.max_rss_kb,
                   s.failures);
        if (s.failures > 0) {
            fmt::print("    first failure: {}\n", s.first_error.substr(0, 300));
            ok = ok && s.name.rfind("gantry", 0) != 0 && s.name.rfind("in-process", 0) != 0;
        }
    }
    std::system(fmt::format("rm -rf {}", work).c_str());
    return ok ? 0 : 1;
}
