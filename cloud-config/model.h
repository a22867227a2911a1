// The typed cloud-config model: plain structs with parsed values.
//
// This is what the rest of Gantry sees of a config. Nothing here knows about YAML: durations
// are std::chrono, sizes are bytes, choices are enums, and every optional value has its
// default filled in by the parser. `supervisor` turns these structs into per-part specs;
// leaf parts never include this header (DESIGN.md, "dependencies point down").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/units.h"

namespace gantry::config {

// Where a value was written: 1-based line and column, 0 when it came from a default.
struct Mark {
    int line = 0;
    int column = 0;
};

// ---- machine -------------------------------------------------------------------------

struct User {
    std::string name;
    std::vector<std::string> groups;
    std::vector<std::string> ssh_authorized_keys;
    std::string passwd;  // a crypt(3) hash; empty means the password is locked
    std::string shell = "/bin/sh";
    std::string home;  // default /home/NAME (/root for root)
    Mark mark;
};

enum class Encoding { plain, base64, gzip, gzip_base64 };

struct WriteFile {
    std::string path;
    std::string content;  // exactly as written; decoded by the host plan
    Encoding encoding = Encoding::plain;
    mode_t permissions = 0644;
    std::string owner = "root:root";  // user[:group], names or numbers
    bool append = false;
    Mark mark;
};

struct Kernel {
    std::vector<std::string> modules;
    std::map<std::string, std::string> sysctl;
};

// ---- storage -------------------------------------------------------------------------

struct Partition {
    std::string label;
    uint32_t number = 0;         // 0: the next free number
    uint64_t size_bytes = 0;     // 0: the rest of the disk
    std::string type = "linux";  // linux | swap | esp | a GPT type GUID
};

struct Disk {
    std::string device;
    bool wipe = false;  // write a new partition table even if one exists
    std::vector<Partition> partitions;
    Mark mark;
};

enum class FsFormat { ext4, xfs, btrfs, vfat, swap };

struct Filesystem {
    std::string device;  // a path, or empty when found by label
    std::string label;   // the label to find it by and to give it when formatting
    FsFormat format = FsFormat::ext4;
    std::string mount;  // empty: not mounted
    std::vector<std::string> options;
    bool wipe = false;  // format even if a filesystem is already there
    Mark mark;
};

struct Mount {
    std::string device;  // a path, LABEL=..., or a pseudo source such as tmpfs
    std::string path;
    std::string type;  // empty: let the kernel probe
    std::vector<std::string> options;
    Mark mark;
};

struct Storage {
    std::vector<Disk> disks;
    std::vector<Filesystem> filesystems;
    std::vector<Mount> mounts;
};

// ---- network -------------------------------------------------------------------------

struct Route {
    std::string to;  // CIDR, or "default"
    std::string via;
    uint32_t metric = 0;
};

struct Interface {
    std::string name;
    std::string match_mac;  // lower-case aa:bb:..; empty: match by name
    bool dhcp = false;
    std::vector<std::string> addresses;  // CIDR
    std::string gateway;
    std::vector<Route> routes;
    uint32_t mtu = 0;  // 0: leave as is
    Mark mark;
};

struct Dns {
    std::vector<std::string> nameservers;
    std::vector<std::string> search;
};

struct Network {
    std::vector<Interface> interfaces;  // sorted by name
    Dns dns;
};

// ---- services (Compose-shaped) ---------------------------------------------------------

enum class ServiceType { service, oneshot };
enum class RestartPolicy { no, always, on_failure, unless_stopped };
enum class DependCondition { service_started, service_healthy, service_completed_successfully };
enum class NetworkMode { bridge, host, none, service };
enum class Protocol { tcp, udp };
enum class VolumeType { bind, volume, tmpfs };

struct Restart {
    RestartPolicy policy = RestartPolicy::no;
    uint32_t max_retries = 0;  // on-failure:N; 0 means no limit
};

struct Dependency {
    std::string service;
    DependCondition condition = DependCondition::service_started;
    Mark mark;
};

struct Port {
    std::string host_ip;      // empty: all addresses
    uint16_t host_start = 0;  // 0: not published (container port only)
    uint16_t host_end = 0;
    uint16_t container_start = 0;
    uint16_t container_end = 0;
    Protocol protocol = Protocol::tcp;
    Mark mark;
};

struct Volume {
    VolumeType type = VolumeType::bind;
    std::string source;  // host path (bind), volume name (volume; empty: anonymous)
    std::string target;
    bool read_only = false;
    Mark mark;
};

struct Tmpfs {
    std::string target;
    uint64_t size_bytes = 0;  // 0: kernel default (half of RAM)
};

struct Healthcheck {
    // CMD: argv; CMD-SHELL: {"/bin/sh", "-c", text}. Empty when there is no check.
    std::vector<std::string> test;
    Duration interval = std::chrono::seconds(30);
    Duration timeout = std::chrono::seconds(30);
    Duration start_period = Duration::zero();
    uint32_t retries = 3;
};

struct Ulimit {
    uint64_t soft = 0;
    uint64_t hard = 0;
};

struct Resources {
    uint64_t memory_bytes = 0;  // 0: no limit
    double cpus = 0;            // 0: no limit
    uint64_t pids = 0;          // 0: no limit
};

struct Service {
    std::string name;
    ServiceType type = ServiceType::service;
    std::string image;
    std::vector<std::string> command;     // empty: the image's CMD
    std::vector<std::string> entrypoint;  // empty: the image's ENTRYPOINT
    std::map<std::string, std::string> environment;
    std::vector<std::string> env_file;
    std::vector<Port> ports;
    std::vector<Volume> volumes;
    std::vector<Tmpfs> tmpfs;
    Restart restart;
    std::vector<Dependency> depends_on;
    std::optional<Healthcheck> healthcheck;
    std::string user;
    std::string working_dir;
    bool read_only = false;
    std::vector<std::string> cap_add;  // upper-case, CAP_ prefix, or "ALL"
    std::vector<std::string> cap_drop;
    bool privileged = false;
    NetworkMode network_mode = NetworkMode::bridge;
    std::string network_service;  // for network_mode service:NAME
    std::string hostname;         // empty: the service name
    int stop_signal = 15;         // SIGTERM
    Duration stop_grace_period = std::chrono::seconds(10);
    std::map<std::string, Ulimit> ulimits;
    std::map<std::string, std::string> sysctls;
    std::map<std::string, std::string> labels;
    Resources resources;
    bool notify = false;                                // readiness through sd_notify READY=1
    Duration start_timeout = std::chrono::seconds(90);  // notify: READY=1 within this; 0 = none
    Duration watchdog = Duration::zero();               // notify: WATCHDOG=1 this often; 0 = off
    Mark mark;                                          // of the service's name
    std::map<std::string, Mark> key_marks;              // of each key written, by key name

    // Where `key` was written, or the service's name when it was not.
    Mark mark_of(std::string_view key) const;
};

// ---- kv and update ----------------------------------------------------------------------

enum class KvBackend { embedded, etcd };

struct Kv {
    KvBackend backend = KvBackend::embedded;
    std::vector<std::string> endpoints;  // etcd only
};

enum class RebootStrategy { off, reboot, best_effort, etcd_lock };

struct Update {
    std::string channel = "stable";
    std::string url;         // empty: updates are only applied by hand
    std::string public_key;  // "ed25519:BASE64"
    RebootStrategy reboot_strategy = RebootStrategy::best_effort;
};

// ---- the whole file -------------------------------------------------------------------

struct Config {
    std::string hostname;  // empty: leave the kernel's
    std::vector<User> users;
    std::vector<std::string> ssh_authorized_keys;  // for the user "core"
    std::vector<WriteFile> write_files;
    Kernel kernel;
    std::string timezone;  // empty: UTC
    Storage storage;
    Network network;
    std::vector<Service> services;  // sorted by name
    Kv kv;
    Update update;

    const Service* find_service(std::string_view name) const;
};

// ---- when each section applies ------------------------------------------------------------
//
// The OS runs from an initramfs, so /etc and everything outside the state partition is new
// on every boot: what the config puts there must be applied on every boot. What lives on
// disks (partition tables, filesystems) is created once, on the first boot that finds it
// missing, and is never redone unless the config says `wipe: true`.

enum class BootPolicy {
    every_boot,  // applied on each boot, idempotently
    first_boot,  // applied only when the thing does not exist yet (or wipe: true)
};

struct SectionPolicy {
    std::string_view section;  // key path, e.g. "storage.filesystems"
    BootPolicy policy;
    std::string_view why;
};

// Every top-level section (and the storage subsections) with its policy, in apply order.
const std::vector<SectionPolicy>& section_policies();
// The policy for a key path such as "storage.disks"; every_boot for unknown paths.
BootPolicy boot_policy(std::string_view section);

// ---- names of enum values, as written in YAML ----------------------------------------------

std::string_view to_string(Encoding e);
std::string_view to_string(FsFormat f);
std::string_view to_string(ServiceType t);
std::string_view to_string(RestartPolicy p);
std::string_view to_string(DependCondition c);
std::string_view to_string(NetworkMode m);
std::string_view to_string(Protocol p);
std::string_view to_string(VolumeType t);
std::string_view to_string(KvBackend b);
std::string_view to_string(RebootStrategy s);
std::string_view to_string(BootPolicy p);

}  // namespace gantry::config
