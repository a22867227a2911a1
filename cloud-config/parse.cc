#include "cloud-config/parse.h"

#include <fmt/format.h>

#include <exception>

#include "cloud-config/parse_internal.h"

namespace gantry::config {
namespace {

using detail::child;
using detail::ForeignKey;
using detail::Reader;

const std::vector<std::string> kTopKeys = {
    "hostname",    "users",   "ssh_authorized_keys",
    "write_files", "kernel",  "timezone",
    "storage",     "network", "services",
    "kv",          "update",  "coreos",
};

// Keys people bring from cloud-init and Compose files, with what to write instead.
const std::vector<ForeignKey> kForeignTop = {
    {"runcmd",
     "Gantry runs no shell commands at boot; run the job as a service with "
     "type: oneshot"},
    {"bootcmd",
     "Gantry runs no shell commands at boot; run the job as a service with "
     "type: oneshot"},
    {"packages",
     "Gantry installs no packages; run the software as a container image under "
     "services"},
    {"manage_etc_hosts", "Gantry writes /etc/hosts itself; remove this key"},
    {"version", "a Compose file's version has no meaning here; remove it"},
    {"volumes",
     "named volumes need no declaration: a volume source without a slash is kept "
     "under /var/lib/gantry/volumes; remove this section"},
    {"networks", "services share one bridge network; choose per service with network_mode"},
};

// CoreOS cloud-config's `coreos:` section, key by key, with the Gantry equivalent.
const std::vector<ForeignKey> kForeignCoreos = {
    {"units",
     "systemd units are not supported; describe each program as a container under "
     "services (type: oneshot for a job that runs once)"},
    {"etcd", "use the kv section (backend: embedded, or backend: etcd with endpoints)"},
    {"etcd2", "use the kv section (backend: embedded, or backend: etcd with endpoints)"},
    {"fleet", "fleet is not supported; services run on this machine under services"},
    {"flannel", "container networking is built in; choose per service with network_mode"},
    {"update", "use the update section (url, public_key, reboot_strategy)"},
    {"locksmith", "use update.reboot_strategy: etcd-lock"},
    {"oem", "not needed: Gantry reads its config sources itself; remove it"},
};

void parse_coreos(Reader& r, const YAML::Node& n) {
    if (!n.IsMap()) {
        r.error(n, "coreos",
                "the CoreOS section is not supported; see docs/config.md for Gantry's sections");
        return;
    }
    // Every key under coreos is an error: known ones say what to use instead.
    auto f = r.fields(n, "coreos", {}, kForeignCoreos);
    (void)f;
}

}  // namespace

Checked parse_config(std::string_view bytes, const std::string& file) {
    Diagnostics d;
    Reader r(file, d);
    Config c;
    try {
        std::vector<YAML::Node> docs = YAML::LoadAll(std::string(bytes));
        if (docs.size() > 1) {
            r.error(docs[1], "",
                    "a config is one YAML document; remove the second document (after ---)");
        }
        if (!docs.empty() && !docs[0].IsNull()) {
            const YAML::Node& root = docs[0];
            if (auto top = r.fields(root, "", kTopKeys, kForeignTop)) {
                detail::parse_machine(r, *top, c);
                if (auto* v = top->get("coreos")) {
                    parse_coreos(r, *v);
                }
                if (auto* v = top->get("storage")) {
                    detail::parse_storage(r, *v, c.storage);
                }
                if (auto* v = top->get("network")) {
                    detail::parse_network(r, *v, c.network);
                }
                if (auto* v = top->get("services")) {
                    detail::parse_services(r, *v, c.services);
                }
                if (auto* v = top->get("kv")) {
                    detail::parse_kv(r, *v, c.kv);
                }
                if (auto* v = top->get("update")) {
                    detail::parse_update(r, *v, c.update);
                }
                detail::validate(r, c);
            }
        }
    } catch (const YAML::Exception& e) {
        // yaml-cpp stops at the first syntax error; nothing after it can be trusted.
        Mark m = e.mark.is_null() ? Mark{} : Mark{e.mark.line + 1, e.mark.column + 1};
        r.error_at(m, "", fmt::format("invalid YAML: {}", e.msg));
    } catch (const std::exception& e) {
        r.error_at({}, "", fmt::format("cannot read the config: {}", e.what()));
    }
    if (!d.empty()) {
        sort_diagnostics(d);
        return std::unexpected(std::move(d));
    }
    return c;
}

}  // namespace gantry::config
