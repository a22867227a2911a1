#include "ctl/kv_cmd.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "kv/client.h"
#include "kv/json.h"
#include "kv/types.h"

namespace gantry::ctl {

namespace {

using kv::json::Json;

void usage() {
    std::fprintf(stderr,
                 "usage: gantryctl kv [--endpoint URL] COMMAND\n"
                 "  get KEY [--prefix]            print key=value lines\n"
                 "  put KEY VALUE [--lease ID]\n"
                 "  del KEY [--prefix]\n"
                 "  watch KEY [--prefix]          print events until interrupted\n"
                 "  lease grant TTL | revoke ID | ttl ID | list\n"
                 "  txn                           read a TxnRequest (etcd JSON) on stdin\n"
                 "endpoint: --endpoint, $GANTRY_KV_ENDPOINT, else unix:///run/gantry/kv.sock\n");
}

std::string dec(const Json& j, const char* name) {
    if (!j.contains(name)) {
        return "";
    }
    auto r = kv::json::base64_decode(j[name].get<std::string>());
    return r ? *r : "";
}

int report(const Result<std::string>& r) {
    if (!r) {
        std::fprintf(stderr, "gantryctl kv: %s\n", r.error().str().c_str());
        return 1;
    }
    return 0;
}

int raw(kv::Client& c, const std::string& path, const std::string& body) {
    auto r = c.post(path, body);
    if (!r) {
        std::fprintf(stderr, "gantryctl kv: %s\n", r.error().str().c_str());
        return 1;
    }
    std::cout << r->body << "\n";
    return r->status == 200 ? 0 : 1;
}

}  // namespace

int kv_cli_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string endpoint = std::getenv("GANTRY_KV_ENDPOINT") ? std::getenv("GANTRY_KV_ENDPOINT")
                                                             : "unix:///run/gantry/kv.sock";
    bool prefix = false;
    int64_t lease = 0;
    std::vector<std::string> pos;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--endpoint" && i + 1 < args.size()) {
            endpoint = args[++i];
        } else if (args[i] == "--prefix") {
            prefix = true;
        } else if (args[i] == "--lease" && i + 1 < args.size()) {
            const std::string& v = args[++i];
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), lease);
            if (ec != std::errc() || end != v.data() + v.size()) {
                std::fprintf(stderr,
                             "gantryctl kv: --lease \"%s\" is not a lease ID (a decimal number, as "
                             "`gantryctl kv lease grant` prints)\n",
                             v.c_str());
                return 2;
            }
        } else {
            pos.push_back(args[i]);
        }
    }
    if (pos.empty()) {
        usage();
        return 2;
    }
    kv::Client c(endpoint);
    const std::string& cmd = pos[0];
    if (cmd == "get" && pos.size() == 2) {
        auto r = c.get(pos[1], prefix);
        if (report(r) != 0) {
            return 1;
        }
        for (const auto& kv : Json::parse(*r).value("kvs", Json::array())) {
            std::cout << dec(kv, "key") << "=" << dec(kv, "value") << "\n";
        }
        return 0;
    }
    if (cmd == "put" && pos.size() == 3) {
        return report(c.put(pos[1], pos[2], lease));
    }
    if (cmd == "del" && pos.size() == 2) {
        auto r = c.del(pos[1], prefix);
        if (report(r) != 0) {
            return 1;
        }
        std::cout << Json::parse(*r).value("deleted", "0") << "\n";
        return 0;
    }
    if (cmd == "watch" && pos.size() == 2) {
        Json create = {{"key", kv::json::base64_encode(pos[1])}};
        if (prefix) {
            create["range_end"] = kv::json::base64_encode(kv::prefix_end(pos[1]));
        }
        auto st = c.stream(
            "/v3/watch", Json{{"create_request", create}}.dump(), [](const std::string& m) {
                Json j = Json::parse(m, nullptr, false);
                if (!j.is_object()) {
                    std::fprintf(stderr, "gantryctl kv: unreadable watch message: %s\n", m.c_str());
                    return false;
                }
                if (j.contains("error")) {
                    std::fprintf(stderr, "gantryctl kv: watch: %s\n", j["error"].dump().c_str());
                    return false;
                }
                const Json result = j.value("result", Json::object());
                for (const auto& ev : result.value("events", Json::array())) {
                    const Json kv = ev.value("kv", Json::object());
                    std::cout << ev.value("type", "PUT") << " " << dec(kv, "key") << "="
                              << dec(kv, "value") << std::endl;
                }
                return !j.contains("error");
            });
        return st ? 0 : (std::fprintf(stderr, "gantryctl kv: %s\n", st.error().str().c_str()), 1);
    }
    if (cmd == "lease" && pos.size() >= 2) {
        if (pos[1] == "grant" && pos.size() == 3) {
            return raw(c, "/v3/lease/grant", Json{{"TTL", pos[2]}}.dump());
        }
        if (pos[1] == "revoke" && pos.size() == 3) {
            return raw(c, "/v3/lease/revoke", Json{{"ID", pos[2]}}.dump());
        }
        if (pos[1] == "ttl" && pos.size() == 3) {
            return raw(c, "/v3/lease/timetolive", Json{{"ID", pos[2]}, {"keys", true}}.dump());
        }
        if (pos[1] == "list") {
            return raw(c, "/v3/lease/leases", "{}");
        }
    }
    if (cmd == "txn") {
        std::string body((std::istreambuf_iterator<char>(std::cin)), {});
        return raw(c, "/v3/kv/txn", body);
    }
    usage();
    return 2;
}

}  // namespace gantry::ctl
