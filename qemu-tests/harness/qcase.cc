#include "qemu-tests/harness/qcase.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <thread>

#include "base/fd.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "base/units.h"
#include "supervisor/api_client.h"

namespace gantry::qemu {

namespace fs = std::filesystem;

namespace {

// Splits on blanks, keeping "double" or 'single' quoted words together; stops at an
// unquoted '#'.
Result<std::vector<std::string>> tokenize(std::string_view line) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size()) {
        if (line[i] == ' ' || line[i] == '\t') {
            ++i;
        } else if (line[i] == '#') {
            break;
        } else if (line[i] == '"' || line[i] == '\'') {
            size_t end = line.find(line[i], i + 1);
            if (end == std::string_view::npos) {
                return fail(Error::msg("unterminated quote"));
            }
            out.emplace_back(line.substr(i + 1, end - i - 1));
            i = end + 1;
        } else {
            size_t end = line.find_first_of(" \t", i);
            end = end == std::string_view::npos ? line.size() : end;
            out.emplace_back(line.substr(i, end - i));
            i = end;
        }
    }
    return out;
}

std::string expand(std::string s, const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const auto& [k, v] : vars) {
        std::string key = "${" + k + "}";
        for (size_t pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos)) {
            s.replace(pos, key.size(), v);
            pos += v.size();
        }
    }
    return s;
}

Result<Duration> to_ms(std::string_view text) {
    auto d = GANTRY_TRY(parse_duration(text));
    return std::chrono::duration_cast<Duration>(d);
}

// "key=value" against the event's JSON: strings compare unquoted, the rest as JSON.
// "key~=text": the value contains the text (a detail such as "OOM-killed; restarting in
// 100ms" without spelling all of it).
bool field_matches(const Event& e, const std::string& kv) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
        return false;
    }
    bool contains = kv[eq - 1] == '~';
    auto j = nlohmann::json::parse(e.json, nullptr, false);
    std::string key = kv.substr(0, contains ? eq - 1 : eq);
    if (!j.is_object() || !j.contains(key)) {
        return false;
    }
    const auto& v = j[key];
    std::string have = v.is_string() ? v.get<std::string>() : v.dump();
    std::string want = kv.substr(eq + 1);
    return contains ? have.find(want) != std::string::npos : have == want;
}

const std::vector<std::string> kVerbs = {"console",      "no_console", "event", "order",
                                         "power_button", "ctl",        "exit",  "ctl_sessions"};

// "NAME k=v k=v": an event spec as `order` takes it, one quoted argument each (so its
// values have no blanks; `event` takes each field as its own, possibly quoted, word).
bool spec_matches(const Event& e, const std::string& spec) {
    return event_matches(e, split(spec, ' '));
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char ch : s) {
        out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    }
    return out + "'";
}

}  // namespace

bool event_matches(const Event& e, const std::vector<std::string>& spec) {
    if (spec.empty() || e.name != spec[0]) {
        return false;
    }
    return std::all_of(spec.begin() + 1, spec.end(),
                       [&](const std::string& kv) { return kv.empty() || field_matches(e, kv); });
}

Result<Case> parse_checks(const std::string& text, const std::string& file,
                          const std::vector<std::pair<std::string, std::string>>& vars) {
    Case c;
    int n = 0;
    for (const auto& raw : split(text, '\n')) {
        ++n;
        auto where = [&](const Error& e) { return fmt::format("{}:{}: {}", file, n, e.str()); };
        auto toks = tokenize(raw);
        if (!toks) {
            return fail(Error::msg(where(toks.error())));
        }
        if (toks->empty()) {
            continue;
        }
        std::string verb = (*toks)[0];
        std::vector<std::string> args;
        Duration timeout{0};
        for (size_t i = 1; i < toks->size(); ++i) {
            std::string a = expand((*toks)[i], vars);
            if (a.starts_with("timeout=")) {
                auto d = to_ms(a.substr(8));
                if (!d) {
                    return fail(Error::msg(where(d.error())));
                }
                timeout = *d;
            } else {
                args.push_back(a);
            }
        }
        auto need = [&](size_t k) -> Status {
            if (args.size() != k) {
                return fail(Error::msg("{}:{}: {} takes {} argument(s)", file, n, verb, k));
            }
            return ok();
        };
        if (verb == "image") {
            GANTRY_TRY(need(1));
            c.image = args[0];
        } else if (verb == "timeout") {
            GANTRY_TRY(need(1));
            auto d = to_ms(args[0]);
            if (!d) {
                return fail(Error::msg(where(d.error())));
            }
            c.timeout = *d;
        } else if (verb == "disk") {
            GANTRY_TRY(need(1));
            auto size = parse_size(args[0]);
            if (!size) {
                return fail(Error::msg(where(size.error())));
            }
            c.disks.push_back(*size);
        } else if (verb == "append") {
            c.append += (c.append.empty() ? "" : " ") + join(args, " ");
        } else if (verb == "memory") {
            GANTRY_TRY(need(1));
            c.memory_mb = std::atoi(args[0].c_str());
        } else if (verb == "network") {
            c.network = true;
        } else if (verb == "config_drive") {
            GANTRY_TRY(need(2));
            if ((args[0] != "iso" && args[0] != "vfat") ||
                (args[1] != "cidata" && args[1] != "config-2")) {
                return fail(
                    Error::msg("{}:{}: config_drive takes iso|vfat cidata|config-2", file, n));
            }
            c.drives.push_back({args[0], args[1]});
        } else if (std::find(kVerbs.begin(), kVerbs.end(), verb) != kVerbs.end()) {
            if ((verb == "console" || verb == "no_console" || verb == "exit") && args.size() != 1) {
                return fail(Error::msg("{}:{}: {} takes one argument", file, n, verb));
            }
            if (verb == "event" && args.empty()) {
                return fail(Error::msg("{}:{}: event needs a name", file, n));
            }
            for (const auto& a : args) {
                if (verb == "ctl" && a.starts_with("match=")) {
                    try {
                        std::regex re(a.substr(6));
                    } catch (const std::regex_error& e) {
                        return fail(Error::msg("{}:{}: {}: {}", file, n, a, e.what()));
                    }
                }
            }
            c.steps.push_back(Step{n, verb, args, timeout});
        } else {
            std::string hint = closest_match(verb, kVerbs);
            return fail(Error::msg("{}:{}: unknown check '{}'{}", file, n, verb,
                                   hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
        }
    }
    return c;
}

Result<Case> load_case(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> vars;
    if (auto cfg = read_file(dir + "/config.yaml")) {
        vars = {{"config_sha256", sha256_hex(*cfg)}, {"config_bytes", std::to_string(cfg->size())}};
    }
    auto text = GANTRY_TRY(read_file(dir + "/checks"));
    auto c = GANTRY_TRY(parse_checks(text, dir + "/checks", vars));
    c.name = fs::path(dir).filename().string();
    c.dir = dir;
    return c;
}

std::vector<std::string> list_cases(const std::string& root) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root, ec)) {
        if (fs::exists(e.path() / "checks")) {
            out.push_back(e.path().filename().string());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::string> skip_reason(const Case& c, const RunOptions& opts) {
    std::string dir = opts.image_root + "/" + c.image;
    if (auto why = read_file(dir + "/unavailable.txt")) {
        return "OS image '" + c.image + "' unavailable: " + std::string(trim(*why));
    }
    if (!fs::exists(dir + "/initramfs.cpio.zst")) {
        return "OS image '" + c.image + "' not built (" + dir + "/initramfs.cpio.zst)";
    }
    for (const auto& d : c.drives) {
        std::vector<const char*> tools = {"genisoimage"};
        if (d.fs == "vfat") {
            tools = {"mkfs.vfat", "mcopy"};
        }
        for (const char* t : tools) {
            std::string probe = fmt::format("command -v {} >/dev/null 2>&1", t);
            if (std::system(probe.c_str()) != 0) {
                return fmt::format("config_drive {} needs {} (scripts/install-deps)", d.fs, t);
            }
        }
    }
    return std::nullopt;
}

namespace {

// gantryctl on the host, through the VM's gantry.ctl port:
//   ctl ARGS... [expect=TEXT] [match=ECMASCRIPT-REGEX] [retry]
// One try of `ctl ARGS... [expect=TEXT] [absent=TEXT] [match=REGEX]`: gantryctl on the
// host, through the VM's gantry.ctl port. Each try gets at most 20 s, so one stuck client
// (seen: an API answer that never came over the virtio-serial port) is retried instead of
// eating the step.
Status run_ctl(Vm& vm, const std::vector<std::string>& args, Duration timeout) {
    const char* bin = std::getenv("GANTRY_CTL");
    std::string cmd =
        fmt::format("timeout {} {} --socket {}", std::clamp<long>(timeout.count() / 1000, 1, 20),
                    shell_quote(bin != nullptr ? bin : "gantryctl"), shell_quote(vm.ctl_socket()));
    std::string expect, match;
    std::optional<std::string> absent;
    for (const auto& a : args) {
        if (a.starts_with("expect=")) {
            expect = a.substr(7);
        } else if (a.starts_with("absent=")) {
            absent = a.substr(7);
        } else if (a.starts_with("match=")) {
            match = a.substr(6);
        } else if (a != "retry") {
            cmd += " " + shell_quote(a);
        }
    }
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return fail(Error::sys("popen {}", cmd));
    }
    std::string out;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) {
        out.append(buf, n);
    }
    int rc = ::pclose(p);
    if (rc != 0 || out.find(expect) == std::string::npos ||
        (absent && out.find(*absent) != std::string::npos) ||
        (!match.empty() && !std::regex_search(out, std::regex(match)))) {
        std::string want = expect.empty() ? "" : "(expected \"" + expect + "\")";
        want += absent ? " (must not show \"" + *absent + "\")" : "";
        want += match.empty() ? "" : "(expected to match /" + match + "/)";
        return fail(Error::msg("`{}` exited {} {}: {}", cmd, rc, want, out));
    }
    return ok();
}

// `ctl_sessions`: one host connection to the gantry.ctl port that carries two API
// sessions, the way the port sees a client that was streaming and the next client when
// the guest misses the disconnect in between: `events -f` (one line read), then the
// session marker and `ps`, which must be answered (the first session no longer reads).
Status run_ctl_sessions(Vm& vm, Duration timeout) {
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, vm.ctl_socket().c_str(), sizeof addr.sun_path - 1);
    if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        return fail(Error::sys("connect {}", vm.ctl_socket()));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string in;
    // The next line that holds `want`, skipping others (the first session's stream may
    // still be in flight behind the marker).
    auto line_with = [&](std::string_view want) -> Status {
        for (;;) {
            for (size_t nl; (nl = in.find('\n')) != std::string::npos;) {
                std::string line = in.substr(0, nl);
                in.erase(0, nl + 1);
                if (line.find(want) != std::string::npos) {
                    return ok();
                }
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd p{s.get(), POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                return fail(Error::msg("no line with {} from the guest in time", want));
            }
            char buf[4096];
            ssize_t n = ::read(s.get(), buf, sizeof buf);
            if (n <= 0) {
                return fail(Error::msg("the ctl port closed while waiting for {}", want));
            }
            in.append(buf, static_cast<size_t>(n));
        }
    };
    std::string marker = std::string(supervisor::kSessionStart) + "\n";
    GANTRY_TRY(write_all(s.get(), marker + R"({"cmd":"events","follow":true})"
                                           "\n"));
    GANTRY_TRY(line_with("\"service\""));
    GANTRY_TRY(write_all(s.get(), marker + R"({"cmd":"ps"})"
                                           "\n"));
    return line_with("\"services\"");
}

Status run_step(Vm& vm, const Step& s, Duration timeout) {
    if (s.verb == "console") {
        GANTRY_TRY(vm.wait_console(s.args[0], timeout));
    } else if (s.verb == "event") {
        // The first event of that name whose fields all match: a case can wait for
        // "service service=web to=running" among many service events.
        std::string spec = join(s.args, " ");
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            for (const auto& e : vm.events()) {
                if (event_matches(e, s.args)) {
                    return ok();
                }
            }
            vm.poll_exit();
            if (!vm.running() || std::chrono::steady_clock::now() >= deadline) {
                std::string seen;
                for (const auto& e : vm.events()) {
                    if (e.name == s.args[0]) {
                        seen = e.json;
                    }
                }
                return fail(Error::msg("{} waiting for event \"{}\"{}",
                                       vm.running() ? "timed out" : "QEMU exited", spec,
                                       seen.empty() ? "" : "; last of that name: " + seen));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    } else if (s.verb == "order") {
        // Each spec's first matching event exists, and they came in this order.
        auto events = vm.events();
        long last = -1;
        for (const auto& spec : s.args) {
            auto it = std::find_if(events.begin(), events.end(),
                                   [&](const Event& e) { return spec_matches(e, spec); });
            if (it == events.end()) {
                return fail(Error::msg("order: no event \"{}\"", spec));
            }
            long at = it - events.begin();
            if (at < last) {
                return fail(Error::msg("order: \"{}\" came too early", spec));
            }
            last = at;
        }
    } else if (s.verb == "ctl") {
        // Run again every half second until it passes or the step times out: what the
        // guest does asynchronously (a log line, a state that takes a while, discovery keys)
        // lands a moment after the event that caused it. (`retry` is accepted and implied.)
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left =
                std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
            Status st = run_ctl(vm, s.args, std::max(left, Duration{1000}));
            vm.poll_exit();
            if (st || !vm.running() || std::chrono::steady_clock::now() >= deadline) {
                return st;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    } else if (s.verb == "ctl_sessions") {
        GANTRY_TRY(run_ctl_sessions(vm, timeout));
    } else if (s.verb == "power_button") {
        GANTRY_TRY(vm.power_button());
    } else if (s.verb == "exit") {
        int code = GANTRY_TRY(vm.wait_exit(timeout));
        if (std::to_string(code) != s.args[0]) {
            return fail(Error::msg("QEMU exited with {}, expected {}", code, s.args[0]));
        }
    }
    return ok();
}

Status run_shell(const std::string& cmd) {
    int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    if (rc != 0) {
        return fail(Error::msg("`{}` exited {}", cmd, rc));
    }
    return ok();
}

// The case's config.yaml as user-data on a NoCloud (cidata) or OpenStack (config-2) drive,
// laid out as cloud-init expects, with a minimal meta-data beside it.
Result<std::string> make_config_drive(const Case& c, const Case::Drive& d, size_t n,
                                      const std::string& work_dir) {
    auto config = GANTRY_TRY_CTX(read_file(c.dir + "/config.yaml"), "config_drive");
    std::string src = work_dir + "/config-drive" + std::to_string(n);
    std::error_code ec;
    fs::remove_all(src, ec);
    if (d.label == "cidata") {
        fs::create_directories(src, ec);
        GANTRY_TRY(write_file_atomic(src + "/user-data", config));
        GANTRY_TRY(write_file_atomic(src + "/meta-data", "instance-id: gantry-" + c.name + "\n"));
    } else {
        fs::create_directories(src + "/openstack/latest", ec);
        GANTRY_TRY(write_file_atomic(src + "/openstack/latest/user_data", config));
        GANTRY_TRY(write_file_atomic(src + "/openstack/latest/meta_data.json",
                                     "{\"uuid\": \"gantry-" + c.name + "\"}\n"));
    }
    std::string img = src + (d.fs == "iso" ? ".iso" : ".img");
    fs::remove(img, ec);
    if (d.fs == "iso") {
        GANTRY_TRY(run_shell(fmt::format("genisoimage -quiet -o {} -V {} -J -R {}",
                                         shell_quote(img), d.label, shell_quote(src))));
    } else {
        GANTRY_TRY(run_shell(fmt::format("mkfs.vfat -n {} -C {} 2048", d.label, shell_quote(img))));
        for (const auto& e : fs::directory_iterator(src)) {
            GANTRY_TRY(run_shell(fmt::format("MTOOLS_SKIP_CHECK=1 mcopy -s -i {} {} ::/",
                                             shell_quote(img), shell_quote(e.path().string()))));
        }
    }
    return img;
}

Status check_console(const Vm& vm, const Case& c) {
    std::string log = vm.console();
    if (log.find("Kernel panic") != std::string::npos) {
        return fail(Error::msg("the kernel panicked"));
    }
    for (const auto& s : c.steps) {
        if (s.verb == "no_console" && log.find(s.args[0]) != std::string::npos) {
            return fail(Error::msg("line {}: the console shows \"{}\"", s.line, s.args[0]));
        }
    }
    return ok();
}

}  // namespace

Status run_case(const Case& c, const RunOptions& opts) {
    VmConfig cfg;
    cfg.image_dir = opts.image_root + "/" + c.image;
    cfg.work_dir = opts.work_root + "/" + c.name;
    if (fs::exists(c.dir + "/config.yaml") && c.drives.empty()) {
        cfg.config_file = c.dir + "/config.yaml";
    }
    cfg.append = c.append;
    cfg.memory_mb = c.memory_mb;
    cfg.network = c.network;
    std::error_code ec;
    fs::create_directories(cfg.work_dir, ec);
    for (size_t i = 0; i < c.disks.size(); ++i) {
        std::string disk = cfg.work_dir + "/disk" + std::to_string(i) + ".raw";
        fs::remove(disk, ec);
        auto fd = GANTRY_TRY(Fd::open(disk, O_RDWR | O_CREAT | O_TRUNC, 0644));
        if (ftruncate(fd.get(), static_cast<off_t>(c.disks[i])) < 0) {
            return fail(Error::sys("truncate {}", disk));
        }
        cfg.disks.push_back(disk);
    }
    for (size_t i = 0; i < c.drives.size(); ++i) {
        cfg.disks.push_back(GANTRY_TRY(make_config_drive(c, c.drives[i], i, cfg.work_dir)));
    }
    auto vm = GANTRY_TRY(Vm::start(cfg));
    auto explain = [&](const Error& e, int line) {
        return Error::msg("{}/checks:{}: {}\n--- console (last lines) ---\n{}\n--- logs in {}",
                          c.dir, line, e.str(), console_tail(vm.console()), cfg.work_dir);
    };
    for (const auto& s : c.steps) {
        Duration t = s.timeout.count() > 0 ? s.timeout : c.timeout;
        if (auto st = run_step(vm, s, t); !st) {
            vm.kill();
            return fail(explain(st.error(), s.line));
        }
    }
    // A case that does not end with `exit` leaves the VM up; end it and check the log.
    vm.kill();
    if (auto st = check_console(vm, c); !st) {
        return fail(explain(st.error(), 0));
    }
    return ok();
}

}  // namespace gantry::qemu
