// The machine sections: hostname, users, ssh_authorized_keys, write_files, kernel, timezone;
// and the small kv and update sections.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"
#include "cloud-config/codec.h"
#include "cloud-config/parse_internal.h"

namespace gantry::config::detail {

bool is_absolute_path(std::string_view p) {
    return !p.empty() && p.front() == '/';
}

namespace {

// "/a/../b": a path that names its target indirectly; refused where Gantry writes files,
// so a config can only ever write where it plainly says.
bool has_dot_dot(std::string_view p) {
    for (const auto& part : split(p, '/')) {
        if (part == "..") {
            return true;
        }
    }
    return false;
}

}  // namespace

// RFC 1123 host name: labels of letters, digits and '-', not starting or ending with '-'.
bool is_valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < h.size(); ++i) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0 || h[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-';
        if (!ok || (label == 0 && ch == '-') || ++label > 63) {
            return false;
        }
    }
    return h.back() != '-' && h.back() != '.';
}

bool is_ip(std::string_view s) {
    std::string str(s);
    unsigned char buf[16];
    return inet_pton(AF_INET, str.c_str(), buf) == 1 || inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

bool is_cidr(std::string_view s) {
    auto slash = s.find('/');
    if (slash == std::string_view::npos) {
        return false;
    }
    std::string ip(s.substr(0, slash));
    std::string_view len = s.substr(slash + 1);
    if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit)) {
        return false;
    }
    int bits = std::stoi(std::string(len));
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) {
        return bits <= 32;
    }
    return inet_pton(AF_INET6, ip.c_str(), buf) == 1 && bits <= 128;
}

namespace {

// Names that useradd(8) accepts: lower-case letter or '_' first, then [a-z0-9_-], <= 32.
bool is_valid_user_name(std::string_view n) {
    if (n.empty() || n.size() > 32 || !((n[0] >= 'a' && n[0] <= 'z') || n[0] == '_')) {
        return false;
    }
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

void parse_keys(Reader& r, const YAML::Node& n, const std::string& path,
                std::vector<std::string>& out) {
    auto keys = r.strings(n, path);
    if (!keys) {
        return;
    }
    for (size_t i = 0; i < keys->size(); ++i) {
        const std::string& k = (*keys)[i];
        // An authorized_keys line is "[options] type base64 [comment]"; a key without a type
        // is usually a pasted fingerprint or a private key by mistake.
        if (k.find("ssh-") == std::string::npos && k.find("ecdsa-") == std::string::npos &&
            k.find("sk-") == std::string::npos) {
            r.error(n[i], item(path, i),
                    "not an SSH public key: expected a line like \"ssh-ed25519 AAAA... me@host\"");
            continue;
        }
        out.push_back(k);
    }
}

void parse_user(Reader& r, const YAML::Node& n, const std::string& path, User& u) {
    static const std::vector<std::string> keys = {"name",   "groups", "ssh_authorized_keys",
                                                  "passwd", "shell",  "home"};
    auto f = r.fields(n, path, keys);
    if (!f) {
        return;
    }
    u.mark = Reader::mark(n);
    r.require(*f, "name", path, "the user's login name");
    r.get(*f, "name", path, u.name);
    if (!u.name.empty() && !is_valid_user_name(u.name)) {
        r.error(*f->get("name"), child(path, "name"),
                fmt::format("\"{}\" is not a valid user name: lower-case letters, digits, _ "
                            "and -, starting with a letter or _, at most 32",
                            u.name));
    }
    r.get(*f, "groups", path, u.groups);
    for (size_t i = 0; i < u.groups.size(); ++i) {
        if (!is_valid_user_name(u.groups[i])) {
            r.error((*f->get("groups"))[i], item(child(path, "groups"), i),
                    fmt::format("\"{}\" is not a valid group name", u.groups[i]));
        }
    }
    if (auto* v = f->get("ssh_authorized_keys")) {
        parse_keys(r, *v, child(path, "ssh_authorized_keys"), u.ssh_authorized_keys);
    }
    r.get(*f, "passwd", path, u.passwd);
    if (!u.passwd.empty() && u.passwd[0] != '$' && u.passwd != "!" && u.passwd != "*") {
        r.error(*f->get("passwd"), child(path, "passwd"),
                "expected a crypt(3) hash such as \"$6$salt$...\" (make one with mkpasswd); a "
                "clear-text password is never accepted");
    }
    r.get(*f, "shell", path, u.shell);
    r.get(*f, "home", path, u.home);
    if (u.home.empty()) {
        u.home = u.name == "root" ? "/root" : "/home/" + u.name;
    } else if (!is_absolute_path(u.home)) {
        r.error(*f->get("home"), child(path, "home"), "must be an absolute path");
    }
}

void parse_write_file(Reader& r, const YAML::Node& n, const std::string& path, WriteFile& w) {
    static const std::vector<std::string> keys = {"path",        "content", "encoding",
                                                  "permissions", "owner",   "append"};
    static const Choices<Encoding> encodings = {
        {"plain", Encoding::plain},
        {"b64", Encoding::base64},
        {"base64", Encoding::base64},
        {"gzip", Encoding::gzip},
        {"gz", Encoding::gzip},
        {"gz+b64", Encoding::gzip_base64},
        {"gz+base64", Encoding::gzip_base64},
        {"gzip+base64", Encoding::gzip_base64},
        {"gzip+b64", Encoding::gzip_base64},
    };
    auto f = r.fields(n, path, keys);
    if (!f) {
        return;
    }
    w.mark = Reader::mark(n);
    r.require(*f, "path", path, "where to write the file");
    r.get(*f, "path", path, w.path);
    if (f->has("path") && has_dot_dot(w.path)) {
        r.error(*f->get("path"), child(path, "path"),
                fmt::format("\"{}\" contains \"..\"; write the path it means", w.path));
    }
    if (f->has("path") && !w.path.empty() && !is_absolute_path(w.path)) {
        r.error(*f->get("path"), child(path, "path"),
                fmt::format("\"{}\" is not an absolute path", w.path));
    }
    const YAML::Node* content = f->get("content");
    if (content && !content->IsNull()) {
        if (auto s = r.string(*content, child(path, "content"))) {
            w.content = *s;
        }
    }
    r.get_choice(*f, "encoding", path, w.encoding, encodings);
    if (content && content->Tag() == "tag:yaml.org,2002:binary") {
        // `content: !!binary ...` is YAML's own base64; binary gzip data can only be written
        // that way (or as b64 text), since YAML text must be valid UTF-8.
        if (auto raw = base64_decode(w.content)) {
            w.content = std::move(*raw);
        } else {
            r.error(*content, child(path, "content"), raw.error().str());
        }
    }
    // Decode now, so bad base64 or gzip is a config error before boot, not a failed write.
    if (content && !content->IsNull()) {
        if (auto d = decode_content(w.content, w.encoding); !d) {
            r.error(*content, child(path, "content"),
                    fmt::format("cannot decode as {}: {}", to_string(w.encoding), d.error().str()));
        }
    }
    if (auto* v = f->get("permissions")) {
        // Octal as a string ("0644") or as YAML wrote it (0644 reads as the scalar "0644").
        auto s = r.string(*v, child(path, "permissions"));
        if (s) {
            bool ok =
                !s->empty() && s->size() <= 5 &&
                std::all_of(s->begin(), s->end(), [](char c) { return c >= '0' && c <= '7'; });
            if (ok) {
                w.permissions = static_cast<mode_t>(std::stoul(*s, nullptr, 8));
                ok = w.permissions <= 07777;
            }
            if (!ok) {
                r.error(*v, child(path, "permissions"),
                        fmt::format("\"{}\" is not an octal mode such as \"0644\"", *s));
            }
        }
    }
    r.get(*f, "owner", path, w.owner);
    if (w.owner.empty() || w.owner.front() == ':' || w.owner.back() == ':' ||
        std::count(w.owner.begin(), w.owner.end(), ':') > 1) {
        r.error(f->has("owner") ? *f->get("owner") : n, child(path, "owner"),
                fmt::format("\"{}\" is not USER or USER:GROUP", w.owner));
    }
    r.get(*f, "append", path, w.append);
}

}  // namespace

void parse_machine(Reader& r, const Fields& top, Config& c) {
    if (auto* v = top.get("hostname")) {
        if (auto s = r.string(*v, "hostname")) {
            c.hostname = *s;
            if (!is_valid_hostname(*s)) {
                r.error(*v, "hostname",
                        fmt::format("\"{}\" is not a valid host name: letters, digits and '-' in "
                                    "dot-separated labels of at most 63",
                                    *s));
            }
        }
    }
    if (auto* v = top.get("users")) {
        if (auto list = r.items(*v, "users")) {
            for (size_t i = 0; i < list->size(); ++i) {
                User u;
                parse_user(r, (*list)[i], item("users", i), u);
                c.users.push_back(std::move(u));
            }
        }
    }
    if (auto* v = top.get("ssh_authorized_keys")) {
        parse_keys(r, *v, "ssh_authorized_keys", c.ssh_authorized_keys);
    }
    if (auto* v = top.get("write_files")) {
        if (auto list = r.items(*v, "write_files")) {
            for (size_t i = 0; i < list->size(); ++i) {
                WriteFile w;
                parse_write_file(r, (*list)[i], item("write_files", i), w);
                c.write_files.push_back(std::move(w));
            }
        }
    }
    if (auto* v = top.get("kernel")) {
        if (auto f = r.fields(*v, "kernel", {"modules", "sysctl"})) {
            r.get(*f, "modules", "kernel", c.kernel.modules);
            if (auto* s = f->get("sysctl")) {
                if (auto m = r.string_map(*s, "kernel.sysctl", false)) {
                    c.kernel.sysctl = std::move(*m);
                }
            }
        }
    }
    if (auto* v = top.get("timezone")) {
        if (auto s = r.string(*v, "timezone")) {
            // Area/City names from the tz database; never a path (it becomes a symlink target).
            bool ok = !s->empty() && s->front() != '/' && s->find("..") == std::string::npos &&
                      std::all_of(s->begin(), s->end(), [](char ch) {
                          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '/' ||
                                 ch == '_' || ch == '-' || ch == '+';
                      });
            if (ok) {
                c.timezone = *s;
            } else {
                r.error(*v, "timezone",
                        fmt::format("\"{}\" is not a tz database name such as Europe/Paris", *s));
            }
        }
    }
}

void parse_kv(Reader& r, const YAML::Node& n, Kv& kv) {
    auto f = r.fields(n, "kv", {"backend", "endpoints"});
    if (!f) {
        return;
    }
    r.get_choice(*f, "backend", "kv", kv.backend,
                 Choices<KvBackend>{{"embedded", KvBackend::embedded}, {"etcd", KvBackend::etcd}});
    r.get(*f, "endpoints", "kv", kv.endpoints);
    for (size_t i = 0; i < kv.endpoints.size(); ++i) {
        const std::string& e = kv.endpoints[i];
        if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
            r.error((*f->get("endpoints"))[i], item("kv.endpoints", i),
                    fmt::format("\"{}\" is not a URL such as http://10.0.0.1:2379", e));
        }
    }
    if (kv.backend == KvBackend::etcd && kv.endpoints.empty()) {
        r.error(n, "kv.endpoints", "backend etcd needs at least one endpoint");
    }
    if (kv.backend == KvBackend::embedded && f->has("endpoints")) {
        r.error(*f->get("endpoints"), "kv.endpoints",
                "endpoints are for backend: etcd; the embedded store has none");
    }
}

void parse_update(Reader& r, const YAML::Node& n, Update& u) {
    auto f = r.fields(n, "update", {"channel", "url", "public_key", "reboot_strategy"});
    if (!f) {
        return;
    }
    r.get(*f, "channel", "update", u.channel);
    r.get(*f, "url", "update", u.url);
    if (!u.url.empty() && u.url.rfind("https://", 0) != 0 && u.url.rfind("http://", 0) != 0 &&
        u.url.rfind("file://", 0) != 0) {
        r.error(*f->get("url"), "update.url",
                fmt::format("\"{}\" is not an http(s):// or file:// URL", u.url));
    }
    r.get(*f, "public_key", "update", u.public_key);
    if (!u.public_key.empty() && u.public_key.rfind("ed25519:", 0) != 0) {
        r.error(*f->get("public_key"), "update.public_key",
                "expected \"ed25519:\" followed by the base64 public key");
    }
    r.get_choice(*f, "reboot_strategy", "update", u.reboot_strategy,
                 Choices<RebootStrategy>{{"off", RebootStrategy::off},
                                         {"reboot", RebootStrategy::reboot},
                                         {"best-effort", RebootStrategy::best_effort},
                                         {"etcd-lock", RebootStrategy::etcd_lock}});
    if (!u.url.empty() && u.public_key.empty()) {
        r.error(*f->get("url"), "update.public_key",
                "an update url needs public_key: updates are only applied when signed");
    }
}

}  // namespace gantry::config::detail
