// Discovery: each service that is up is a key `/gantry/services/<name>` in the KV store
// (gantry-kv or etcd, the etcd v3 JSON gateway through kv::Client), on a lease of its own.
//
// The event loop never waits for the store. update()/remove() only record the wanted
// state under a mutex and wake a worker thread, which owns the kv::Client and does the
// HTTP: lease grant + put when a service comes up, put on every state or health change,
// lease revoke (which deletes the key) when it goes down, keepalives every TTL/3. When
// the store is unreachable the worker retries with a doubling delay and, once it answers
// again, registers every service that is up anew. If gantry-init dies, the keepalives
// stop and the store drops the keys when the leases expire (TTL, 10 s by default).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/units.h"

namespace gantry::supervisor {

struct DiscoveryOptions {
    // Tried in turn; the first that answers is used until it fails.
    std::vector<std::string> endpoints;
    std::string prefix = "/gantry/services/";
    Duration ttl = std::chrono::seconds(10);
    Duration request_timeout = std::chrono::seconds(2);
    Duration retry_initial = std::chrono::milliseconds(200);
    Duration retry_max = std::chrono::seconds(5);
    std::string host;  // the machine's name, in every value; "" = gethostname()
    // The worker thread's nice value. Registering is background work: on a one-CPU
    // machine at boot it would otherwise take the CPU from the services it registers
    // (its first requests, and gantry-kv's first answers, are cold code).
    int nice = 19;
};

// What is published for one service; serialised by the worker.
struct Registration {
    std::string name;
    std::string state;   // running, healthy, ...
    std::string health;  // "", starting, healthy, unhealthy
    pid_t pid = 0;
    int64_t started_at_us = 0;  // realtime
    std::vector<std::string> ports;
    std::string network_mode;   // host, bridge, none
    bool host_network = false;  // reachable on the machine's addresses
};

// The key's value: {"name","host","state","health","addresses","ports","network_mode",
// "pid","started_at"} (started_at RFC 3339 UTC; pid left out when 0).
std::string registration_json(const Registration& r, const std::vector<std::string>& addresses,
                              const std::string& host);

class Discovery {
  public:
    explicit Discovery(DiscoveryOptions opts);
    // Stops the worker after it had up to 3 s to revoke what is still registered.
    ~Discovery();
    Discovery(const Discovery&) = delete;
    Discovery& operator=(const Discovery&) = delete;

    // Thread-safe and non-blocking (a short mutex): the latest call per name wins.
    void update(Registration r);
    void remove(const std::string& name);

    // For tests and `inspect`-style reporting: whether the last store request succeeded.
    bool connected() const;

    struct Shared;

  private:
    std::shared_ptr<Shared> shared_;
};

}  // namespace gantry::supervisor
