#include "runtime/security_steps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/fd.h"

// The security part lands on its own branch; once its headers are in the tree it is used,
// and the fallbacks below disappear from the build.
#if __has_include("runtime/capabilities.h") && __has_include("runtime/seccomp.h") && \
                                                             __has_include("runtime/cgroup.h")
#define GANTRY_RUNTIME_SEC 1
#include "runtime/capabilities.h"
#include "runtime/cgroup.h"
#include "runtime/seccomp.h"
#else
#define GANTRY_RUNTIME_SEC 0
#endif

namespace gantry::runtime {

bool security_built() {
    return GANTRY_RUNTIME_SEC != 0;
}

bool resources_request_limits(const nlohmann::json& resources) {
    if (!resources.is_object()) {
        return false;
    }
    for (const auto& [k, v] : resources.items()) {
        if (k == "devices") {
            continue;
        }
        if (v.is_object() && v.empty()) {
            continue;
        }
        return true;
    }
    return false;
}

// ---- Security ----

namespace {

std::atomic<uint64_t> g_seccomp_compilations{0};
std::mutex g_seccomp_mu;
std::string g_seccomp_cache_dir;     // "" = memory only
std::string g_seccomp_prebuilt_dir;  // "" = none

#if GANTRY_RUNTIME_SEC
// Compiling the default profile with libseccomp costs milliseconds; a supervisor starts many
// containers with the same few profiles, and exec (health checks) reuses its container's.
// So programs are cached per process, keyed by the profile's canonical JSON text (the map
// hashes it; the full key compare rules out collisions). Bounded: a process that sees more
// distinct profiles than this is unusual, and dropping the cache only costs a recompile.
Result<std::shared_ptr<const SeccompProgram>> cached_seccomp(const nlohmann::json& seccomp) {
    constexpr size_t kMaxEntries = 32;
    static std::unordered_map<std::string, std::shared_ptr<const SeccompProgram>> cache;
    std::string key = seccomp.dump();
    std::lock_guard lock(g_seccomp_mu);
    if (auto it = cache.find(key); it != cache.end()) {
        return it->second;
    }
    std::shared_ptr<const SeccompProgram> prog;
    std::string disk_key, disk_file;
    if (!g_seccomp_prebuilt_dir.empty()) {
        disk_key = seccomp_cache_key(seccomp);
        if (auto loaded = load_seccomp_program(seccomp_cache_file(g_seccomp_prebuilt_dir, disk_key),
                                               disk_key);
            loaded) {
            prog = std::move(*loaded);
        }
    }
    if (!prog && !g_seccomp_cache_dir.empty()) {
        if (disk_key.empty()) {
            disk_key = seccomp_cache_key(seccomp);
        }
        disk_file = seccomp_cache_file(g_seccomp_cache_dir, disk_key);
        if (auto loaded = load_seccomp_program(disk_file, disk_key); loaded) {
            prog = std::move(*loaded);
        }
    }
    if (!prog) {
        prog = GANTRY_TRY(compile_seccomp(seccomp, "linux.seccomp"));
        g_seccomp_compilations.fetch_add(1, std::memory_order_relaxed);
        if (!disk_file.empty()) {
            // Best effort: a read-only or full --root only costs the next run a compile.
            ::mkdir(g_seccomp_cache_dir.c_str(), 0700);
            (void)store_seccomp_program(disk_file, disk_key, *prog);
        }
    }
    if (cache.size() >= kMaxEntries) {
        cache.clear();
    }
    cache.emplace(std::move(key), prog);
    return prog;
}
#endif

}  // namespace

uint64_t seccomp_compilations() {
    return g_seccomp_compilations.load(std::memory_order_relaxed);
}

void set_seccomp_cache_dir(std::string dir) {
    std::lock_guard lock(g_seccomp_mu);
    g_seccomp_cache_dir = std::move(dir);
}

void set_seccomp_prebuilt_dir(std::string dir) {
    std::lock_guard lock(g_seccomp_mu);
    g_seccomp_prebuilt_dir = std::move(dir);
}

struct Security::Impl {
#if GANTRY_RUNTIME_SEC
    bool has_caps = false;
    CapSets caps;
    uint64_t kernel_caps = 0;  // probed here, in the parent, not in every child
    std::shared_ptr<const SeccompProgram> seccomp;
#endif
};

Security::Security() : impl_(std::make_unique<Impl>()) {}
Security::~Security() = default;
Security::Security(Security&&) noexcept = default;
Security& Security::operator=(Security&&) noexcept = default;

Result<Security> Security::prepare(const nlohmann::json& capabilities,
                                   const nlohmann::json& seccomp) {
    Security s;
#if GANTRY_RUNTIME_SEC
    if (!capabilities.is_null()) {
        s.impl_->caps = GANTRY_TRY(parse_capabilities(capabilities, "process.capabilities"));
        s.impl_->has_caps = true;
        s.impl_->kernel_caps = kernel_capabilities();
    }
    if (!seccomp.is_null()) {
        s.impl_->seccomp = GANTRY_TRY(cached_seccomp(seccomp));
    }
#else
    if (!capabilities.is_null()) {
        return fail(Error::msg(
            "process.capabilities: not built: this gantry-oci has no capability support (the "
            "security part, runtime/sec.cmake, was not in the build)"));
    }
    if (!seccomp.is_null()) {
        return fail(Error::msg(
            "linux.seccomp: not built: this gantry-oci has no seccomp support (the security "
            "part, runtime/sec.cmake, was not in the build)"));
    }
#endif
    return s;
}

int Security::apply_capabilities() const noexcept {
#if GANTRY_RUNTIME_SEC
    if (impl_->has_caps) {
        return runtime::apply_capabilities(impl_->caps, impl_->kernel_caps);
    }
#endif
    return 0;
}

int Security::install_seccomp() const noexcept {
#if GANTRY_RUNTIME_SEC
    if (impl_->seccomp) {
        return runtime::install_seccomp(*impl_->seccomp);
    }
#endif
    return 0;
}

// ---- CgroupHandle ----

struct CgroupHandle::Impl {
#if GANTRY_RUNTIME_SEC
    std::optional<Cgroup> cgroup;
#endif
    std::string path;
};

CgroupHandle::CgroupHandle() : impl_(std::make_unique<Impl>()) {}
CgroupHandle::~CgroupHandle() = default;
CgroupHandle::CgroupHandle(CgroupHandle&&) noexcept = default;
CgroupHandle& CgroupHandle::operator=(CgroupHandle&&) noexcept = default;

Result<CgroupHandle> CgroupHandle::create(const Linux& linux, const std::string& container_id,
                                          const std::string& cgroup_root,
                                          std::vector<std::string>& notes) {
    CgroupHandle h;
    bool limits = resources_request_limits(linux.resources);
#if GANTRY_RUNTIME_SEC
    static const nlohmann::json kEmpty = nlohmann::json::object();
    const nlohmann::json& res = linux.resources.is_null() ? kEmpty : linux.resources;
    CgroupPlan plan =
        GANTRY_TRY(plan_cgroup(res, linux.cgroups_path, container_id, "linux.resources"));
    auto cg = Cgroup::create(plan, cgroup_root);
    if (!cg) {
        if (limits) {
            return fail(std::move(cg).error());
        }
        // No limit was asked for: a container without a cgroup of its own is still a
        // correct container (this is the hybrid-cgroup host of the root tests).
        notes.push_back(
            fmt::format("cgroup: none created ({}); no limits were requested", cg.error().str()));
        return h;
    }
    if (!cg->managed()) {
        // Cgroup::create's own "no usable cgroup v2, no limits asked" case.
        notes.push_back("cgroup: none created (no usable cgroup v2 at " + cgroup_root +
                        "); no limits were requested");
        return h;
    }
    h.impl_->path = cg->path();
    h.impl_->cgroup.emplace(std::move(*cg));
#else
    (void)container_id;
    (void)cgroup_root;
    if (limits) {
        return fail(Error::msg(
            "linux.resources: not built: this gantry-oci has no cgroup support (the security "
            "part, runtime/sec.cmake, was not in the build)"));
    }
    notes.push_back("cgroup: none created (cgroup support not built); no limits were requested");
#endif
    return h;
}

bool CgroupHandle::active() const {
    return !impl_->path.empty();
}

const std::string& CgroupHandle::path() const {
    return impl_->path;
}

Status CgroupHandle::add_process(pid_t pid) {
#if GANTRY_RUNTIME_SEC
    if (impl_->cgroup) {
        return impl_->cgroup->add_process(pid);
    }
#endif
    (void)pid;
    return ok();
}

Status CgroupHandle::kill_all() {
#if GANTRY_RUNTIME_SEC
    if (impl_->cgroup) {
        return impl_->cgroup->kill_all();
    }
#endif
    return ok();
}

Status CgroupHandle::destroy() {
#if GANTRY_RUNTIME_SEC
    if (impl_->cgroup) {
        GANTRY_TRY(impl_->cgroup->destroy());
        impl_->cgroup.reset();
        impl_->path.clear();
    }
#endif
    return ok();
}

Status cgroup_add_pid(const std::string& path, pid_t pid) {
    if (path.empty()) {
        return ok();
    }
    Fd fd = GANTRY_TRY(Fd::open(path + "/cgroup.procs", O_WRONLY));
    GANTRY_TRY_CTX(write_all(fd.get(), std::to_string(pid)), "join cgroup {}", path);
    return ok();
}

Result<std::string> cgroup_support_report(const std::string& cgroup_root) {
#if GANTRY_RUNTIME_SEC
    Fd fd = GANTRY_TRY(Fd::open("/proc/self/mountinfo", O_RDONLY));
    std::string mountinfo = GANTRY_TRY_CTX(read_all(fd.get()), "read /proc/self/mountinfo");
    return host_cgroup_support_report(mountinfo, cgroup_root);
#else
    (void)cgroup_root;
    return fail(
        Error::msg("not built: this gantry-oci has no cgroup support (the security part, "
                   "runtime/sec.cmake, was not in the build)"));
#endif
}

Status cgroup_kill_and_remove(const std::string& path) {
    if (path.empty()) {
        return ok();
    }
    if (auto fd = Fd::open(path + "/cgroup.kill", O_WRONLY); fd) {
        (void)write_all(fd->get(), "1");
    }
    // The kernel removes a cgroup only once its last process is gone; SIGKILL is quick but
    // asynchronous.
    for (int i = 0; i < 200; i++) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) {
            return ok();
        }
        if (errno != EBUSY) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return fail(Error::sys("remove cgroup '{}'", path));
}

}  // namespace gantry::runtime
