#include "runtime/state.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "base/fd.h"

namespace gantry::runtime {

using json = nlohmann::json;

json ContainerState::to_json() const {
    json j = oci_json("");
    j.erase("status");
    j["gantry.startTime"] = start_time;
    j["gantry.cgroupPath"] = cgroup_path;
    j["created"] = created;
    return j;
}

json ContainerState::oci_json(std::string_view status) const {
    json j;
    j["ociVersion"] = oci_version;
    j["id"] = id;
    j["status"] = status;
    if (pid > 0 && status != "stopped") {
        j["pid"] = pid;
    }
    j["bundle"] = bundle;
    j["annotations"] = annotations;
    if (!created.empty()) {
        j["created"] = created;
    }
    return j;
}

Result<ContainerState> ContainerState::from_json(const json& j) {
    try {
        ContainerState s;
        s.oci_version = j.at("ociVersion").get<std::string>();
        s.id = j.at("id").get<std::string>();
        s.pid = j.value("pid", 0);
        s.start_time = j.value("gantry.startTime", uint64_t{0});
        s.bundle = j.value("bundle", "");
        s.cgroup_path = j.value("gantry.cgroupPath", "");
        s.created = j.value("created", "");
        if (j.contains("annotations")) {
            s.annotations = j["annotations"].get<std::map<std::string, std::string>>();
        }
        return s;
    } catch (const json::exception& e) {
        return fail(Error::msg("state.json: {}", e.what()));
    }
}

Result<ProcStat> parse_proc_stat(std::string_view text) {
    size_t close = text.rfind(')');
    if (close == std::string_view::npos || close + 2 >= text.size()) {
        return fail(Error::msg("/proc/<pid>/stat: no ')' after the command name"));
    }
    ProcStat ps;
    std::string_view rest = text.substr(close + 2);  // field 3 onwards
    ps.state = rest[0];
    int field = 3;
    size_t pos = 0;
    while (field < 22) {
        pos = rest.find(' ', pos);
        if (pos == std::string_view::npos) {
            return fail(Error::msg("/proc/<pid>/stat: fewer than 22 fields"));
        }
        pos++;
        field++;
    }
    uint64_t v = 0;
    while (pos < rest.size() && rest[pos] >= '0' && rest[pos] <= '9') {
        v = v * 10 + static_cast<uint64_t>(rest[pos] - '0');
        pos++;
    }
    ps.start_time = v;
    return ps;
}

uint64_t process_start_time(pid_t pid) {
    auto text = read_file(fmt::format("/proc/{}/stat", pid));
    if (!text) {
        return 0;
    }
    auto ps = parse_proc_stat(*text);
    if (!ps || ps->state == 'Z' || ps->state == 'X') {
        return 0;
    }
    return ps->start_time;
}

std::string now_rfc3339() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    ::gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:09d}Z", buf, ts.tv_nsec);
}

Status validate_container_id(const std::string& id) {
    if (id.empty() || id == "." || id == ".." || id.size() > 64) {
        return fail(Error::msg("container id \"{}\": must be 1-64 characters", id));
    }
    if (id == kSeccompCacheDirName) {
        return fail(Error::msg("container id \"{}\": reserved for gantry-oci's seccomp cache", id));
    }
    for (char c : id) {
        bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_' || c == '.' || c == '+';
        if (!okc) {
            return fail(Error::msg(
                "container id \"{}\": only letters, digits and - _ . + are allowed", id));
        }
    }
    return ok();
}

Status StateDir::reserve(const std::string& id) const {
    GANTRY_TRY(validate_container_id(id));
    if (::mkdir(root_.c_str(), 0700) < 0 && errno != EEXIST) {
        return fail(Error::sys("create state root '{}'", root_));
    }
    std::string d = dir(id);
    if (::mkdir(d.c_str(), 0700) < 0) {
        if (errno == EEXIST) {
            return fail(Error::msg("container \"{}\" already exists", id));
        }
        return fail(Error::sys("create '{}'", d));
    }
    return ok();
}

Status StateDir::save(const ContainerState& st) const {
    // /run is a tmpfs: rename gives atomicity, and an fsync would only cost time.
    std::string path = dir(st.id) + "/state.json";
    std::string tmp = path + ".tmp";
    {
        Fd fd = GANTRY_TRY(Fd::open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600));
        GANTRY_TRY(write_all(fd.get(), st.to_json().dump()));
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        return fail(Error::sys("rename '{}'", tmp));
    }
    return ok();
}

Result<ContainerState> StateDir::load(const std::string& id) const {
    GANTRY_TRY(validate_container_id(id));
    auto text = read_file(dir(id) + "/state.json");
    if (!text) {
        if (text.error().code() == ENOENT) {
            return fail(Error::msg("container \"{}\" does not exist", id));
        }
        return fail(std::move(text).error());
    }
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded()) {
        return fail(Error::msg("{}/state.json: not valid JSON", dir(id)));
    }
    return ContainerState::from_json(j);
}

Status StateDir::remove(const std::string& id) const {
    std::string d = dir(id);
    for (const char* f : {"/state.json", "/state.json.tmp", "/start.sock", "/pid"}) {
        ::unlink((d + f).c_str());
    }
    if (::rmdir(d.c_str()) < 0 && errno != ENOENT) {
        return fail(Error::sys("remove '{}'", d));
    }
    return ok();
}

Result<std::vector<std::string>> StateDir::list() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(root_.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) {
            return out;
        }
        return fail(Error::sys("open state root '{}'", root_));
    }
    while (struct dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != ".." && name != kSeccompCacheDirName && e->d_type == DT_DIR) {
            out.push_back(name);
        }
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string StateDir::status(const ContainerState& st) const {
    if (st.pid <= 0 || process_start_time(st.pid) != st.start_time) {
        return "stopped";
    }
    struct stat sb;
    if (::lstat(start_socket(st.id).c_str(), &sb) == 0) {
        return "created";
    }
    return "running";
}

Result<std::optional<PidFd>> StateDir::open_init(const ContainerState& st) const {
    if (st.pid <= 0) {
        return std::optional<PidFd>();
    }
    auto pfd = PidFd::open(st.pid);
    if (!pfd) {
        if (pfd.error().code() == ESRCH) {
            return std::optional<PidFd>();
        }
        return fail(std::move(pfd).error());
    }
    // Checked after opening the pidfd: if the start time still matches now, the pidfd
    // refers to our process, whatever happens to the pid later.
    if (process_start_time(st.pid) != st.start_time) {
        return std::optional<PidFd>();
    }
    return std::optional<PidFd>(std::move(*pfd));
}

}  // namespace gantry::runtime
