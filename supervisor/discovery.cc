#include "supervisor/discovery.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "base/log.h"
#include "kv/client.h"

namespace gantry::supervisor {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string rfc3339_us(int64_t us) {
    time_t secs = static_cast<time_t>(us / 1000000);
    tm t{};
    gmtime_r(&secs, &t);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", t.tm_year + 1900, t.tm_mon + 1,
                       t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, us % 1000000);
}

// The machine's addresses a host-network service is reachable on: every address of an
// interface that is up, except loopback and IPv6 link-local.
std::vector<std::string> host_addresses() {
    std::vector<std::string> out;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) < 0) {
        return out;
    }
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_UP) == 0 ||
            (a->ifa_flags & IFF_LOOPBACK) != 0) {
            continue;
        }
        char buf[INET6_ADDRSTRLEN] = {};
        if (a->ifa_addr->sa_family == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
            ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
            if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) {
                continue;
            }
            ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
        } else {
            continue;
        }
        out.emplace_back(buf);
    }
    ::freeifaddrs(list);
    return out;
}

std::string base64(std::string_view in) {
    static constexpr char kTable[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                     static_cast<uint8_t>(in[i + 2]);
        out += {kTable[v >> 18], kTable[(v >> 12) & 63], kTable[(v >> 6) & 63], kTable[v & 63]};
    }
    if (i + 1 == in.size()) {
        uint32_t v = static_cast<uint8_t>(in[i]) << 16;
        out += {kTable[v >> 18], kTable[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
        out += {kTable[v >> 18], kTable[(v >> 12) & 63], kTable[(v >> 6) & 63], '='};
    }
    return out;
}

// etcd writes int64 fields as JSON strings; gantry-kv too, but accept numbers.
int64_t int_field(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) {
        return 0;  // proto3 JSON leaves zero values out
    }
    if (it->is_number_integer()) {
        return it->get<int64_t>();
    }
    if (it->is_string()) {
        try {
            return std::stoll(it->get<std::string>());
        } catch (const std::exception&) {
            return 0;
        }
    }
    return 0;
}

}  // namespace

std::string registration_json(const Registration& r, const std::vector<std::string>& addresses,
                              const std::string& host) {
    json j = {{"name", r.name},
              {"host", host},
              {"state", r.state},
              {"health", r.health},
              {"addresses", addresses},
              {"ports", r.ports},
              {"network_mode", r.network_mode}};
    if (r.pid > 0) {
        j["pid"] = r.pid;
    }
    if (r.started_at_us > 0) {
        j["started_at"] = rfc3339_us(r.started_at_us);
    }
    return j.dump();
}

struct Discovery::Shared {
    DiscoveryOptions opts;
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::optional<Registration>> pending;  // latest per name
    bool stop = false;
    bool exited = false;
    std::atomic<bool> connected{false};
};

namespace {

// A store request that got an HTTP answer (any status); transport failures are errors.
struct Answer {
    int status = 0;
    json body;
};

// Owns the kv::Client; runs only on the worker thread.
class Worker {
  public:
    explicit Worker(std::shared_ptr<Discovery::Shared> s) : s_(std::move(s)), opts_(s_->opts) {
        host_ = opts_.host;
        if (host_.empty()) {
            char buf[256] = {};
            ::gethostname(buf, sizeof buf - 1);
            host_ = buf;
        }
        retry_delay_ = opts_.retry_initial;
        new_client();
    }

    void run() {
        for (;;) {
            bool stopping = false;
            {
                std::unique_lock lk(s_->mu);
                auto deadline = next_wakeup();
                s_->cv.wait_until(lk, deadline, [&] { return s_->stop || !s_->pending.empty(); });
                for (auto& [name, r] : s_->pending) {
                    if (r) {
                        desired_[name] = std::move(*r);
                    } else {
                        desired_.erase(name);
                    }
                    dirty_.insert(name);
                }
                s_->pending.clear();
                stopping = s_->stop;
            }
            if (stopping) {
                revoke_all();
                break;
            }
            step();
        }
        std::lock_guard lk(s_->mu);
        s_->exited = true;
        s_->cv.notify_all();
    }

  private:
    SteadyClock::time_point next_wakeup() const {
        auto now = SteadyClock::now();
        if (failing_) {
            return retry_at_;
        }
        if (!dirty_.empty()) {
            return now;
        }
        if (!live_.empty()) {
            return next_keepalive_;
        }
        return now + std::chrono::hours(1);
    }

    void step() {
        auto now = SteadyClock::now();
        if (failing_) {
            if (now < retry_at_) {
                return;
            }
            if (!resync()) {
                return;
            }
        }
        while (!dirty_.empty()) {
            std::string name = *dirty_.begin();
            if (!sync(name)) {
                return;
            }
            dirty_.erase(name);
        }
        if (!live_.empty() && SteadyClock::now() >= next_keepalive_) {
            if (!keepalive_all()) {
                return;
            }
        }
    }

    void new_client() {
        const std::string& ep = opts_.endpoints[endpoint_ % opts_.endpoints.size()];
        client_ = std::make_unique<kv::Client>(ep);
        client_->set_timeout(
            std::chrono::duration_cast<std::chrono::milliseconds>(opts_.request_timeout));
    }

    const std::string& endpoint() const {
        return opts_.endpoints[endpoint_ % opts_.endpoints.size()];
    }

    // Marks the store down: retry later on the next endpoint, re-register then.
    void failed(const Error& e) {
        if (!failing_) {
            log::warn("discovery: KV store unreachable; retrying",
                      {{"endpoint", endpoint()}, {"error", e.str()}});
            retry_delay_ = opts_.retry_initial;
        } else {
            retry_delay_ = std::min(retry_delay_ * 2, opts_.retry_max);
        }
        failing_ = true;
        s_->connected = false;
        retry_at_ =
            SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(retry_delay_);
        endpoint_++;
        new_client();
    }

    std::optional<Answer> call(const std::string& path, const json& body) {
        auto r = client_->post(path, body.dump());
        if (!r) {
            failed(r.error());
            return std::nullopt;
        }
        Answer a{r->status, json::parse(r->body, nullptr, false)};
        if (a.status >= 500 && a.status != 501) {
            // etcd answers 503 while it has no leader: the store is not usable yet.
            failed(Error::msg("HTTP {}: {}", a.status, r->body.substr(0, 200)));
            return std::nullopt;
        }
        s_->connected = true;
        return a;
    }

    std::string key(const std::string& name) const { return opts_.prefix + name; }

    std::optional<int64_t> grant() {
        int64_t ttl = std::chrono::duration_cast<std::chrono::seconds>(opts_.ttl).count();
        auto a = call("/v3/lease/grant", json{{"TTL", std::to_string(std::max<int64_t>(ttl, 1))}});
        if (!a) {
            return std::nullopt;
        }
        int64_t id = a->body.is_object() ? int_field(a->body, "ID") : 0;
        if (a->status != 200 || id == 0) {
            failed(Error::msg("lease grant answered HTTP {}: {}", a->status, a->body.dump()));
            return std::nullopt;
        }
        return id;
    }

    // Revoking the lease deletes the key with it. A lease the store no longer knows
    // (expired, or the store lost it) is fine: the key went with it.
    bool revoke(int64_t lease) {
        return call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}).has_value();
    }

    bool put(const std::string& name, const std::string& value, int64_t lease, int& status) {
        auto a = call("/v3/kv/put", json{{"key", base64(key(name))},
                                         {"value", base64(value)},
                                         {"lease", std::to_string(lease)}});
        if (!a) {
            return false;
        }
        status = a->status;
        return true;
    }

    // Brings one name in the store to what is wanted. False: the store failed.
    bool sync(const std::string& name) {
        auto want = desired_.find(name);
        auto have = live_.find(name);
        if (want == desired_.end()) {
            if (have != live_.end()) {
                if (!revoke(have->second.lease)) {
                    return false;
                }
                live_.erase(have);
            }
            return true;
        }
        const Registration& r = want->second;
        std::string value = registration_json(
            r, r.host_network ? host_addresses() : std::vector<std::string>{}, host_);
        Live& l = live_[name];
        if (l.value == value && l.lease != 0) {
            return true;
        }
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (l.lease == 0) {
                auto id = grant();
                if (!id) {
                    return false;
                }
                l.lease = *id;
                l.value.clear();
                if (next_keepalive_ < SteadyClock::now()) {
                    next_keepalive_ = SteadyClock::now() + keepalive_every();
                }
            }
            int status = 0;
            if (!put(name, value, l.lease, status)) {
                return false;
            }
            if (status == 200) {
                l.value = value;
                return true;
            }
            // "requested lease not found": the store forgot the lease; take a new one.
            l.lease = 0;
        }
        failed(Error::msg("put {} refused twice", key(name)));
        return false;
    }

    SteadyClock::duration keepalive_every() const {
        return std::chrono::duration_cast<SteadyClock::duration>(opts_.ttl) / 3;
    }

    // One keepalive stream for all leases: the request bodies back to back, one answer
    // each. A lease answered with TTL 0 has expired: its service is registered again.
    bool keepalive_all() {
        std::string body;
        std::map<int64_t, std::string> by_lease;
        for (const auto& [name, l] : live_) {
            if (l.lease != 0) {
                body += json{{"ID", std::to_string(l.lease)}}.dump();
                by_lease[l.lease] = name;
            }
        }
        next_keepalive_ = SteadyClock::now() + keepalive_every();
        if (by_lease.empty()) {
            return true;
        }
        size_t answers = 0;
        std::set<int64_t> alive;
        auto st = client_->stream("/v3/lease/keepalive", body, [&](const std::string& msg) {
            json j = json::parse(msg, nullptr, false);
            if (j.is_object() && j.contains("result")) {
                const json& res = j["result"];
                if (int_field(res, "TTL") > 0) {
                    alive.insert(int_field(res, "ID"));
                }
            }
            return ++answers < by_lease.size();
        });
        if (!st) {
            failed(st.error());
            return false;
        }
        if (answers < by_lease.size()) {
            return true;  // the stream ended early: nothing is known about the rest
        }
        for (const auto& [lease, name] : by_lease) {
            if (!alive.contains(lease)) {
                log::info("discovery: lease expired; registering again",
                          {{"service", name}, {"lease", lease}});
                live_[name] = Live{};
                dirty_.insert(name);
            }
        }
        return true;
    }

    // After an outage: keep leases that survived, re-put every wanted name (the store may
    // have lost data), revoke the leases of services that went down meanwhile.
    bool resync() {
        for (auto it = live_.begin(); it != live_.end();) {
            if (!desired_.contains(it->first)) {
                if (!revoke(it->second.lease)) {
                    return false;
                }
                it = live_.erase(it);
            } else {
                it->second.value.clear();  // forces a put
                ++it;
            }
        }
        failing_ = false;
        if (!keepalive_all()) {
            return false;
        }
        for (const auto& [name, r] : desired_) {
            dirty_.insert(name);
        }
        s_->connected = true;
        log::info("discovery: KV store reachable; registering services",
                  {{"endpoint", endpoint()}, {"services", desired_.size()}});
        return true;
    }

    // Shutdown: drop every registration now rather than waiting for the TTL.
    void revoke_all() {
        if (failing_) {
            return;
        }
        for (const auto& [name, l] : live_) {
            if (l.lease != 0 && !revoke(l.lease)) {
                return;
            }
        }
        live_.clear();
    }

    struct Live {
        int64_t lease = 0;
        std::string value;  // what the store holds; "" = unknown
    };

    std::shared_ptr<Discovery::Shared> s_;
    DiscoveryOptions opts_;
    std::string host_;
    std::unique_ptr<kv::Client> client_;
    size_t endpoint_ = 0;
    std::map<std::string, Registration> desired_;
    std::map<std::string, Live> live_;
    std::set<std::string> dirty_;
    bool failing_ = false;
    Duration retry_delay_{0};
    SteadyClock::time_point retry_at_{};
    SteadyClock::time_point next_keepalive_{};
};

}  // namespace

Discovery::Discovery(DiscoveryOptions opts) : shared_(std::make_shared<Shared>()) {
    shared_->opts = std::move(opts);
    if (shared_->opts.endpoints.empty()) {
        shared_->opts.endpoints.push_back("unix:///run/gantry/kv.sock");
    }
    // The thread starts with every signal blocked: PID 1 takes SIGCHLD, SIGTERM, ... through
    // sd-event's signalfd, and a process-directed signal must never be delivered to (and
    // handled by default in) this thread instead.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    // The thread holds the shared state, so a worker stuck in a connect() can be left
    // behind at exit without touching freed memory.
    std::thread([s = shared_] {
        // Per thread on Linux (the TID as the "process"); best effort, a failure is only
        // a slower boot.
        (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), s->opts.nice);
        try {
            Worker(s).run();
        } catch (const std::exception& e) {
            log::error("discovery worker stopped", {{"error", e.what()}});
            std::lock_guard lk(s->mu);
            s->exited = true;
            s->cv.notify_all();
        }
    }).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

Discovery::~Discovery() {
    std::unique_lock lk(shared_->mu);
    shared_->stop = true;
    shared_->cv.notify_all();
    shared_->cv.wait_for(lk, std::chrono::seconds(3), [&] { return shared_->exited; });
}

void Discovery::update(Registration r) {
    std::lock_guard lk(shared_->mu);
    std::string name = r.name;
    shared_->pending[name] = std::move(r);
    shared_->cv.notify_all();
}

void Discovery::remove(const std::string& name) {
    std::lock_guard lk(shared_->mu);
    shared_->pending[name] = std::nullopt;
    shared_->cv.notify_all();
}

bool Discovery::connected() const {
    return shared_->connected;
}

}  // namespace gantry::supervisor
