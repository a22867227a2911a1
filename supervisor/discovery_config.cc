#include "supervisor/discovery_config.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/strings.h"

namespace gantry::supervisor {

DiscoveryPlan plan_discovery(const config::Kv& kv, bool pid1, const std::string& endpoint_flag) {
    DiscoveryPlan p;
    if (kv.backend == config::KvBackend::etcd) {
        p.options.endpoints = kv.endpoints;
        p.enabled = !p.options.endpoints.empty();
        p.why = p.enabled ? "etcd at " + join(kv.endpoints, ", ") : "etcd without endpoints";
        if (!endpoint_flag.empty()) {
            p.options.endpoints = {endpoint_flag};
            p.enabled = true;
            p.why = "etcd at " + endpoint_flag + " (--kv-endpoint)";
        }
        return p;
    }
    if (!endpoint_flag.empty()) {
        p.options.endpoints = {endpoint_flag};
        p.enabled = true;
        p.why = "embedded store at " + endpoint_flag;
        return p;
    }
    if (pid1) {
        p.options.endpoints = {std::string("unix://") + kEmbeddedKvSocket};
        p.enabled = true;
        p.why = std::string("embedded gantry-kv at unix://") + kEmbeddedKvSocket;
        return p;
    }
    p.why = "host mode runs no gantry-kv; pass --kv-endpoint URL to register with one";
    return p;
}

std::string embedded_kv_data_dir(const std::string& var_lib, const std::string& run) {
    struct statfs st {};
    if (::statfs(var_lib.c_str(), &st) == 0 && st.f_type != TMPFS_MAGIC &&
        st.f_type != RAMFS_MAGIC) {
        return var_lib + "/gantry/kv";
    }
    return run + "/kv";
}

std::optional<ServiceSpec> embedded_kv_service(const std::string& binary,
                                               const std::string& data_dir) {
    if (::access(binary.c_str(), X_OK) != 0) {
        return std::nullopt;
    }
    // gantry-kv makes its data dir but not the parents (/var/lib/gantry on a fresh disk).
    for (size_t slash = data_dir.find('/', 1); slash != std::string::npos;
         slash = data_dir.find('/', slash + 1)) {
        ::mkdir(data_dir.substr(0, slash).c_str(), 0755);
    }
    ServiceSpec s;
    s.name = kEmbeddedKvName;
    s.argv = {binary,           "--unix",     kEmbeddedKvSocket, "--listen",
              "127.0.0.1:2379", "--data-dir", data_dir};
    s.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
    s.restart = RestartPolicy::Always;
    s.system = true;          // stops last, after the services that register in it
    s.start_limit.burst = 0;  // the store must come back however often it fails
    s.backoff.max = std::chrono::seconds(5);
    s.ports = {"2379"};
    return s;
}

}  // namespace gantry::supervisor
