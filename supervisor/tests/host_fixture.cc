#include "supervisor/tests/host_fixture.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/fd.h"

namespace gantry::supervisor::testing {

using nlohmann::json;

std::unique_ptr<HostInit> HostInit::start(const json& services) {
    auto h = std::make_unique<HostInit>();
    char tmpl[] = "/tmp/gantry_hostXXXXXX";
    h->dir_ = mkdtemp(tmpl);
    std::string config = h->dir_ + "/services.json";
    std::ofstream(config) << json{{"services", services}}.dump(2);
    return launch(std::move(h), config);
}

std::unique_ptr<HostInit> HostInit::start_file(const json& file,
                                               const std::vector<std::string>& extra_args) {
    auto h = std::make_unique<HostInit>();
    char tmpl[] = "/tmp/gantry_hostXXXXXX";
    h->dir_ = mkdtemp(tmpl);
    std::string config = h->dir_ + "/services.json";
    std::ofstream(config) << file.dump(2);
    return launch(std::move(h), config, extra_args);
}

std::unique_ptr<HostInit> HostInit::start_config(const std::string& dir,
                                                 const std::string& config) {
    auto h = std::make_unique<HostInit>();
    h->dir_ = dir;
    return launch(std::move(h), config);
}

std::unique_ptr<HostInit> HostInit::launch(std::unique_ptr<HostInit> h, const std::string& config,
                                           const std::vector<std::string>& extra_args) {
    std::string log = h->dir_ + "/init.log";
    std::string state = h->dir_ + "/state";
    std::vector<std::string> args = {"gantry-init", "--host-mode", "--state-dir",
                                     state,         "--log-level", "debug"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    args.push_back(config);
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(GANTRY_INIT_BIN, argv.data());
        _exit(127);
    }
    h->pid_ = pid;
    for (int i = 0; i < 500; ++i) {
        if (ApiClient::connect(h->socket())) {
            return h;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "gantry-init API did not come up: " << h->init_log();
    return h;
}

HostInit::~HostInit() {
    terminate();
    if (keep_dir) {
        return;
    }
    if (!::testing::Test::HasFailure()) {
        std::filesystem::remove_all(dir_);
    } else {
        fprintf(stderr, "kept %s for inspection; init log:\n%s\n", dir_.c_str(),
                init_log().substr(0, 20000).c_str());
    }
}

int HostInit::terminate() {
    if (pid_ <= 0) {
        return -1;
    }
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
}

std::string HostInit::init_log() const {
    auto s = read_file(dir_ + "/init.log");
    return s ? *s : "";
}

ApiClient HostInit::client() const {
    auto c = ApiClient::connect(socket());
    EXPECT_TRUE(c) << c.error().str();
    return std::move(*c);
}

json HostInit::raw_call(const json& req) const {
    auto c = client();
    EXPECT_TRUE(c.send_raw(req.dump() + "\n"));
    auto r = c.next(std::chrono::seconds(10));
    EXPECT_TRUE(r) << r.error().str();
    return r ? *r : json();
}

json HostInit::service(const std::string& name) const {
    return raw_call({{"cmd", "inspect"}, {"service", name}})["service"];
}

bool HostInit::wait_state(const std::string& name, const std::string& state,
                          std::chrono::milliseconds timeout) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (service(name).value("state", "") == state) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

namespace {

// Fields of /proc/<pid>/stat after the command: state is [0], ppid is [1].
std::vector<std::string> stat_fields(const std::string& pid) {
    auto s = read_file("/proc/" + pid + "/stat");
    if (!s) {
        return {};
    }
    std::istringstream in(s->substr(s->rfind(')') + 2));
    std::vector<std::string> out;
    std::string f;
    while (in >> f) {
        out.push_back(f);
    }
    return out;
}

}  // namespace

int count_zombie_children(pid_t parent) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        auto f = stat_fields(name);
        if (f.size() > 1 && f[0] == "Z" && f[1] == std::to_string(parent)) {
            n++;
        }
    }
    return n;
}

int count_open_fds(pid_t pid) {
    int n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         it != std::filesystem::directory_iterator(); ++it) {
        n++;
    }
    return n;
}

uint64_t rss_bytes(pid_t pid) {
    auto s = read_file("/proc/" + std::to_string(pid) + "/status");
    if (!s) {
        return 0;
    }
    auto pos = s->find("VmRSS:");
    return pos == std::string::npos ? 0 : std::stoull(s->substr(pos + 6)) * 1024;
}

}  // namespace gantry::supervisor::testing
