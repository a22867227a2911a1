#include "ctl/kv_cmd.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/units.h"
#include "kv/client.h"
#include "kv/json.h"
#include "kv/types.h"

namespace gantry::ctl {

namespace {

using kv::json::Json;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: gantryctl kv [--endpoint URL] COMMAND\n"
    "  get KEY [--prefix]                 print KEY=VALUE lines\n"
    "  put KEY VALUE [--lease ID]\n"
    "  del KEY [--prefix]                 print how many keys went\n"
    "  watch KEY [--prefix] [-n COUNT] [--timeout DURATION]\n"
    "                                     print PUT/DELETE KEY=VALUE lines; until COUNT\n"
    "                                     events or DURATION (exit 0), else until interrupted\n"
    "  lease grant TTL | revoke ID | ttl ID | list\n"
    "  lease keepalive ID [-n COUNT]      renew every TTL/3; exit 1 once the lease is gone\n"
    "  txn [--data JSON]                  a TxnRequest (etcd JSON), else read on stdin\n"
    "endpoint: --endpoint, $GANTRY_KV_ENDPOINT, else unix:///run/gantry/kv.sock\n"
    "gantryctl --vm NAME kv ... / --socket PATH kv ...: the store of that gantry-init,\n"
    "through its API (runs `gantryctl kv ...` in its gantry-kv service)\n";

struct Flags {
    std::string endpoint;
    bool prefix = false;
    int64_t lease = 0;
    std::optional<int64_t> count;
    std::optional<Duration> timeout;
    std::optional<std::string> data;
    std::vector<std::string> pos;
};

int usage_error(const std::string& problem) {
    std::fprintf(stderr, "gantryctl kv: %s\n%s", problem.c_str(), kUsage);
    return 2;
}

std::optional<int64_t> parse_int(const std::string& v) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) {
        return std::nullopt;
    }
    return n;
}

// Returns the exit code for a usage error, or 0.
int parse_flags(const std::vector<std::string>& args, Flags& f) {
    const char* env = std::getenv("GANTRY_KV_ENDPOINT");
    f.endpoint = env != nullptr && *env != '\0' ? env : "unix:///run/gantry/kv.sock";
    bool options = true;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!options || a.size() < 2 || a[0] != '-') {
            f.pos.push_back(a);
            continue;
        }
        if (a == "--") {
            options = false;
            continue;
        }
        if (a == "--prefix") {
            f.prefix = true;
            continue;
        }
        bool valued = a == "--endpoint" || a == "--lease" || a == "-n" || a == "--count" ||
                      a == "--timeout" || a == "--data";
        if (!valued) {
            return usage_error("unknown option \"" + a + "\"");
        }
        if (i + 1 >= args.size()) {
            return usage_error(a + " needs a value");
        }
        const std::string& v = args[++i];
        if (a == "--endpoint") {
            f.endpoint = v;
        } else if (a == "--data") {
            f.data = v;
        } else if (a == "--lease") {
            auto n = parse_int(v);
            if (!n) {
                return usage_error("--lease \"" + v +
                                   "\" is not a lease ID (a decimal number, as `gantryctl kv "
                                   "lease grant` prints)");
            }
            f.lease = *n;
        } else if (a == "--timeout") {
            auto d = parse_duration(v);
            if (!d) {
                return usage_error("--timeout: " + d.error().str());
            }
            f.timeout = *d;
        } else {
            auto n = parse_int(v);
            if (!n || *n <= 0) {
                return usage_error(a + " \"" + v + "\" is not a positive count");
            }
            f.count = *n;
        }
    }
    return 0;
}

std::string dec(const Json& j, const char* name) {
    if (!j.contains(name)) {
        return "";
    }
    auto r = kv::json::base64_decode(j[name].get<std::string>());
    return r ? *r : "";
}

// What, where, and what to do: a store that cannot be reached is the usual failure.
int store_error(const Flags& f, const std::string& what, const Error& e) {
    std::fprintf(stderr, "gantryctl kv %s: %s (store: %s)\n", what.c_str(), e.str().c_str(),
                 f.endpoint.c_str());
    std::string s = e.str();
    bool unreachable =
        s.find("connect") != std::string::npos || s.find("resolve") != std::string::npos ||
        s.find("no answer") != std::string::npos || s.find("closed by server") != std::string::npos;
    if (unreachable) {
        std::fprintf(stderr,
                     "gantryctl kv: is gantry-kv running (`gantryctl ps` lists it)? For another "
                     "store give --endpoint URL or set $GANTRY_KV_ENDPOINT "
                     "(http://127.0.0.1:2379, unix:///PATH); for a VM's store: gantryctl "
                     "--vm NAME kv ...\n");
    }
    return 1;
}

int raw(kv::Client& c, const Flags& f, const std::string& what, const std::string& path,
        const std::string& body) {
    auto r = c.post(path, body);
    if (!r) {
        return store_error(f, what, r.error());
    }
    std::cout << r->body << "\n";
    if (r->status != 200) {
        std::fprintf(stderr, "gantryctl kv %s: the store answered HTTP %d\n", what.c_str(),
                     r->status);
        return 1;
    }
    return 0;
}

int watch(kv::Client& c, const Flags& f) {
    const std::string& key = f.pos[1];
    Json create = {{"key", kv::json::base64_encode(key)}};
    if (f.prefix) {
        create["range_end"] = kv::json::base64_encode(kv::prefix_end(key));
    }
    // --timeout bounds each read (the socket timeout) and the whole watch (the deadline).
    std::optional<Clock::time_point> deadline;
    if (f.timeout) {
        deadline = Clock::now() + *f.timeout;
        c.set_timeout(std::max(std::chrono::milliseconds(1),
                               std::chrono::duration_cast<std::chrono::milliseconds>(*f.timeout)));
    }
    int64_t seen = 0;
    bool failed = false;
    auto st =
        c.stream("/v3/watch", Json{{"create_request", create}}.dump(), [&](const std::string& m) {
            Json j = Json::parse(m, nullptr, false);
            if (!j.is_object() || j.contains("error")) {
                std::fprintf(stderr, "gantryctl kv watch: the store sent an error: %s\n",
                             m.c_str());
                failed = true;
                return false;
            }
            const Json result = j.value("result", Json::object());
            for (const auto& ev : result.value("events", Json::array())) {
                const Json kv = ev.value("kv", Json::object());
                std::cout << ev.value("type", "PUT") << " " << dec(kv, "key") << "="
                          << dec(kv, "value") << std::endl;
                if (f.count && ++seen >= *f.count) {
                    return false;
                }
            }
            return !(deadline && Clock::now() >= *deadline);
        });
    if (failed) {
        return 1;
    }
    if (!st) {
        bool timed_out = deadline && Clock::now() >= *deadline - std::chrono::milliseconds(50);
        return timed_out ? 0 : store_error(f, "watch", st.error());
    }
    return 0;
}

// etcdctl's `lease keep-alive`: one keepalive per TTL/3 until the lease is gone.
int keepalive(kv::Client& c, const Flags& f) {
    auto id = parse_int(f.pos[2]);
    if (!id) {
        return usage_error("lease keepalive: \"" + f.pos[2] + "\" is not a lease ID");
    }
    for (int64_t n = 0; !f.count || n < *f.count; ++n) {
        int64_t ttl = -1;
        auto st = c.stream(
            "/v3/lease/keepalive", Json{{"ID", f.pos[2]}}.dump(), [&](const std::string& m) {
                Json j = Json::parse(m, nullptr, false);
                Json r = j.is_object() ? j.value("result", Json::object()) : Json();
                auto t = r.is_object() ? parse_int(r.value("TTL", "0")) : std::nullopt;
                ttl = t ? *t : 0;
                return false;
            });
        if (!st && ttl < 0) {
            return store_error(f, "lease keepalive", st.error());
        }
        if (ttl <= 0) {
            std::fprintf(stderr,
                         "gantryctl kv lease keepalive: lease %lld expired or was revoked\n",
                         static_cast<long long>(*id));
            return 1;
        }
        std::cout << "lease " << *id << " keepalived with TTL(" << ttl << ")" << std::endl;
        if (f.count && n + 1 >= *f.count) {
            break;
        }
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::max<int64_t>(ttl * 1000 / 3, 200)));
    }
    return 0;
}

}  // namespace

int kv_cli_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& a : args) {
        if (a == "-h" || a == "--help" || a == "help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
    }
    Flags f;
    if (int rc = parse_flags(args, f); rc != 0) {
        return rc;
    }
    if (f.pos.empty()) {
        return usage_error("name a command");
    }
    kv::Client c(f.endpoint);
    // A store that accepts but never answers must not hang a script: 10 s per read or
    // write (a watch sets its own bound from --timeout, else waits for events forever).
    const auto& pos = f.pos;
    if (pos[0] != "watch") {
        c.set_timeout(std::chrono::seconds(10));
    }
    const std::string& cmd = pos[0];
    if (cmd == "get" && pos.size() == 2) {
        auto r = c.get(pos[1], f.prefix);
        if (!r) {
            return store_error(f, "get", r.error());
        }
        for (const auto& kv : Json::parse(*r).value("kvs", Json::array())) {
            std::cout << dec(kv, "key") << "=" << dec(kv, "value") << "\n";
        }
        return 0;
    }
    if (cmd == "put" && pos.size() == 3) {
        auto r = c.put(pos[1], pos[2], f.lease);
        return r ? 0 : store_error(f, "put", r.error());
    }
    if (cmd == "del" && pos.size() == 2) {
        auto r = c.del(pos[1], f.prefix);
        if (!r) {
            return store_error(f, "del", r.error());
        }
        std::cout << Json::parse(*r).value("deleted", "0") << "\n";
        return 0;
    }
    if (cmd == "watch" && pos.size() == 2) {
        return watch(c, f);
    }
    if (cmd == "lease" && pos.size() >= 2) {
        const std::string& sub = pos[1];
        if (sub == "grant" && pos.size() == 3) {
            if (!parse_int(pos[2])) {
                return usage_error("lease grant: \"" + pos[2] + "\" is not a TTL in seconds");
            }
            return raw(c, f, "lease grant", "/v3/lease/grant", Json{{"TTL", pos[2]}}.dump());
        }
        if ((sub == "revoke" || sub == "ttl" || sub == "keepalive") && pos.size() == 3 &&
            !parse_int(pos[2])) {
            return usage_error("lease " + sub + ": \"" + pos[2] +
                               "\" is not a lease ID (a decimal number, as `gantryctl kv lease "
                               "grant` prints)");
        }
        if (sub == "revoke" && pos.size() == 3) {
            return raw(c, f, "lease revoke", "/v3/lease/revoke", Json{{"ID", pos[2]}}.dump());
        }
        if (sub == "ttl" && pos.size() == 3) {
            return raw(c, f, "lease ttl", "/v3/lease/timetolive",
                       Json{{"ID", pos[2]}, {"keys", true}}.dump());
        }
        if (sub == "keepalive" && pos.size() == 3) {
            return keepalive(c, f);
        }
        if (sub == "list" && pos.size() == 2) {
            return raw(c, f, "lease list", "/v3/lease/leases", "{}");
        }
        return usage_error("lease: expected grant TTL, revoke ID, ttl ID, keepalive ID or list");
    }
    if (cmd == "txn" && pos.size() == 1) {
        std::string body =
            f.data ? *f.data : std::string((std::istreambuf_iterator<char>(std::cin)), {});
        if (!Json::parse(body, nullptr, false).is_object()) {
            return usage_error(
                "txn: the request is not a JSON object (etcd's TxnRequest: "
                "{\"compare\":[...],\"success\":[...],\"failure\":[...]})");
        }
        return raw(c, f, "txn", "/v3/kv/txn", body);
    }
    return usage_error("\"" + cmd + "\" with " + std::to_string(pos.size() - 1) +
                       " argument(s) is not a kv command");
}

}  // namespace gantry::ctl
