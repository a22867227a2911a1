#include "cloud-config/parse.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include <exception>
#include <optional>
#include <sstream>

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

// Offset of the first byte that is not part of valid UTF-8, or npos. YAML text is Unicode;
// yaml-cpp passes invalid bytes through, and they would end up in paths and host names.
size_t invalid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xe  ? 3
                     : (c >> 3) == 0x1e ? 4
                                        : 0;
        if (len == 0 || i + len > s.size() || (len == 2 && c < 0xc2)) {
            return i;
        }
        uint32_t cp = len == 1 ? c : c & (0xff >> (len + 1));
        for (size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) {
                return i;
            }
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8.
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

// YAML allows no C0 control characters but tab and line breaks, and no DEL (YAML 1.2, 5.1).
bool is_forbidden_control(unsigned char c) {
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
}

Mark mark_of_offset(std::string_view s, size_t offset) {
    Mark m{1, 1};
    for (size_t i = 0; i < offset; ++i) {
        if (s[i] == '\n') {
            ++m.line;
            m.column = 1;
        } else {
            ++m.column;
        }
    }
    return m;
}

// Notes where each document starts; everything else is ignored.
class DocumentCounter : public YAML::EventHandler {
  public:
    void OnDocumentStart(const YAML::Mark& m) override { starts.push_back(m); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}

    std::vector<YAML::Mark> starts;
};

// The mark of a second document, if the text has one. Never YAML::LoadAll: on some broken
// input yaml-cpp 0.7's HandleNextDocument returns true forever without advancing (found by
// the fuzzer: tests/bad/77-yaml-cpp-loop.yaml), and PID 1 must not hang on a config. Two
// calls are enough to know whether there is more than one document.
std::optional<YAML::Mark> second_document(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
    }
    if (counter.starts.size() < 2) {
        return std::nullopt;
    }
    return counter.starts[1];
}

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

// The file is UTF-8, but a double-quoted escape can still make a string that is not
// ("\xa0" is one byte to yaml-cpp). Every key and value is checked, so no such string
// reaches a path, a host name or the JSON of the API. True when all are UTF-8.
static bool scalars_are_utf8(Reader& r, const YAML::Node& n, int depth = 0) {
    if (depth > 256) {
        return true;  // yaml-cpp bounds nesting far below this; nothing to add here
    }
    if (n.IsScalar()) {
        for (unsigned char c : n.Scalar()) {
            if (c != 0 && is_forbidden_control(c)) {
                r.error(n, "",
                        fmt::format("control character 0x{:02x} (from an escape) is not allowed "
                                    "in a string; only tab and line breaks are",
                                    c));
                return false;
            }
        }
        if (n.Scalar().find('\0') != std::string::npos) {
            r.error(n, "",
                    "a NUL character (\\0, \\x00) cannot reach a path, an argument or "
                    "the environment; remove it");
            return false;
        }
        if (size_t bad = invalid_utf8(n.Scalar()); bad != std::string_view::npos) {
            r.error(n, "",
                    fmt::format("this string is not UTF-8 once read (byte 0x{:02x} at offset {}); "
                                "write the character itself or a \\u escape",
                                static_cast<unsigned char>(n.Scalar()[bad]), bad));
            return false;
        }
        return true;
    }
    bool ok = true;
    if (n.IsSequence()) {
        for (const auto& item : n) {
            ok = scalars_are_utf8(r, item, depth + 1) && ok;
        }
    } else if (n.IsMap()) {
        for (const auto& kv : n) {
            ok = scalars_are_utf8(r, kv.first, depth + 1) && ok;
            ok = scalars_are_utf8(r, kv.second, depth + 1) && ok;
        }
    }
    return ok;
}

Checked parse_config(std::string_view bytes, const std::string& file) {
    Diagnostics d;
    Reader r(file, d);
    Config c;
    if (size_t bad = invalid_utf8(bytes); bad != std::string_view::npos) {
        r.error_at(mark_of_offset(bytes, bad), "",
                   fmt::format("byte 0x{:02x} is not valid UTF-8; save the file as UTF-8",
                               static_cast<unsigned char>(bytes[bad])));
        sort_diagnostics(d);
        return Unexpected(std::move(d));
    }
    // YAML allows no C0 control characters but tab and line breaks (YAML 1.2, 5.1), and
    // yaml-cpp misreads a NUL inside a plain scalar.
    for (size_t i = 0; i < bytes.size(); ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (is_forbidden_control(c)) {
            r.error_at(mark_of_offset(bytes, i), "",
                       fmt::format("control character 0x{:02x} is not allowed in YAML; remove it "
                                   "(in a double-quoted string, write it as an escape)",
                                   c));
            sort_diagnostics(d);
            return Unexpected(std::move(d));
        }
    }
    try {
        std::string text(bytes);
        YAML::Node root = YAML::Load(text);
        if (auto m = second_document(text)) {
            bool marker = text.rfind("---", 0) == 0 || text.find("\n---") != std::string::npos ||
                          text.find("\n...") != std::string::npos;
            r.error_at(Mark{m->line + 1, m->column + 1}, "",
                       marker ? "a config is one YAML document; remove the second document "
                                "(after ---)"
                              : "invalid YAML: cannot read on from here; check the indentation "
                                "and stray characters");
        }
        if (root.IsDefined() && !root.IsNull() && scalars_are_utf8(r, root)) {
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
        return Unexpected(std::move(d));
    }
    return c;
}

}  // namespace gantry::config
