#include "supervisor/image_fetcher.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/log.h"
#include "base/pidfd.h"
#include "image/helper_protocol.h"
#include "image/overlay.h"

namespace gantry::supervisor {

struct ImageFetcher::Run {
    std::string ref;
    PidFd proc;
    Fd out;
    Source out_src;
    Source watch;
    image::HelperReport report;
    std::vector<Done> waiters;
};

namespace {

std::string find_helper(const std::string& configured) {
    if (!configured.empty()) {
        return configured;
    }
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, static_cast<size_t>(n));
        dir.resize(dir.rfind('/') + 1);
        std::string beside = dir + "gantry-image";
        if (::access(beside.c_str(), X_OK) == 0) {
            return beside;
        }
    }
    return "/usr/bin/gantry-image";
}

std::string_view pull_word(image::PullPolicy p) {
    switch (p) {
        case image::PullPolicy::kAlways:
            return "always";
        case image::PullPolicy::kNever:
            return "never";
        case image::PullPolicy::kMissing:
            break;
    }
    return "missing";
}

}  // namespace

bool is_transport_ref(std::string_view ref) {
    return ref.starts_with("oci:") || ref.starts_with("oci-archive:") ||
           ref.starts_with("docker-archive:");
}

Result<image::Image> load_local(const image::Store& store, std::string_view ref) {
    if (is_transport_ref(ref)) {
        return fail(Error::with_errno(ENOENT, fmt::format("{} is not imported yet", ref)));
    }
    auto rec = GANTRY_TRY(store.find(ref));
    return store.load(rec);
}

ImageFetcher::ImageFetcher(ImageFetcherOptions opts)
    : opts_(std::move(opts)), helper_(find_helper(opts_.helper)) {}

ImageFetcher::~ImageFetcher() {
    for (auto& [ref, r] : runs_) {
        r->watch.reset();
        (void)r->proc.send_signal(SIGKILL);
        (void)r->proc.wait();
    }
}

Result<image::Image> ImageFetcher::local(const std::string& ref) const {
    image::Store store = GANTRY_TRY(image::Store::open(opts_.store_dir));
    auto it = resolved_.find(ref);
    return load_local(store, it != resolved_.end() ? it->second : ref);
}

bool ImageFetcher::ready(const std::string& ref) const {
    if (opts_.pull == image::PullPolicy::kAlways && !fresh_.contains(ref)) {
        return false;
    }
    auto st = image::Store::open(opts_.store_dir);
    if (!st) {
        return false;
    }
    auto it = resolved_.find(ref);
    auto img = load_local(*st, it != resolved_.end() ? it->second : ref);
    return img && image::missing_layers(*st, *img).empty();
}

void ImageFetcher::used(const std::string& ref) {
    fresh_.erase(ref);
}

std::string ImageFetcher::progress(const std::string& ref) const {
    auto it = runs_.find(ref);
    return it == runs_.end() ? "" : it->second->report.last_progress();
}

bool ImageFetcher::tracks(pid_t pid) const {
    for (const auto& [ref, r] : runs_) {
        if (r->proc.pid() == pid) {
            return true;
        }
    }
    return false;
}

namespace {

struct HelperStart {
    const char* path;
    char** argv;
    char** envp;
    int devnull;
    int out;  // the pipe's write end: stdout and stderr
    const char* exec_failed;
    size_t exec_failed_len;
};

// The helper's child, sharing PID 1's memory until execve (PidFd::vfork_exec): only
// async-signal-safe calls on what the parent prepared.
int helper_entry(void* arg) {
    const auto& h = *static_cast<const HelperStart*>(arg);
    (void)reset_signals_for_exec();  // PID 1's blocked signals must not reach the helper
    ::dup2(h.devnull, STDIN_FILENO);
    ::dup2(h.out, STDOUT_FILENO);
    ::dup2(h.out, STDERR_FILENO);
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(h.path, h.argv, h.envp);
    // The errno as digits, no strerror.
    int err = errno;
    char num[16];
    int n = 0;
    do {
        num[sizeof num - 1 - n++] = static_cast<char>('0' + err % 10);
        err /= 10;
    } while (err > 0 && n < 15);
    (void)!::write(STDOUT_FILENO, h.exec_failed, h.exec_failed_len);
    (void)!::write(STDOUT_FILENO, num + sizeof num - n, static_cast<size_t>(n));
    (void)!::write(STDOUT_FILENO, " (is gantry-image installed?)\n", 30);
    ::_exit(127);
}

}  // namespace

Status ImageFetcher::fetch(EventLoop& loop, const std::string& ref, Done done) {
    loop_ = &loop;
    if (auto it = runs_.find(ref); it != runs_.end()) {
        it->second->waiters.push_back(std::move(done));
        return ok();
    }
    // 1. Everything the child needs, made before it starts: it may only exec (it shares
    //    PID 1's memory, and PID 1 has a discovery thread).
    std::vector<std::string> args = {
        helper_, "ensure", "--store", opts_.store_dir, "--pull", std::string(pull_word(opts_.pull)),
        ref};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {env_path, nullptr};
    Fd devnull = GANTRY_TRY(Fd::open("/dev/null", O_RDONLY | O_CLOEXEC));
    FdPair pipe = GANTRY_TRY_CTX(make_pipe(), "image helper pipe");
    std::string exec_failed = image::format_error(fmt::format(
        "image {}: cannot run the image helper {}: exec failed with errno ", ref, helper_));
    exec_failed.pop_back();  // the errno text and the newline are added in the child
    // 2. The helper starts vfork-style (PidFd::vfork_exec, as the ProcessDriver's services):
    //    a fork of PID 1 would copy its page tables and leave every page copy-on-write for
    //    the one execve that follows. Its stdout and stderr are the pipe.
    HelperStart start{helper_.c_str(),    argv.data(),       envp, devnull.get(), pipe.write.get(),
                      exec_failed.data(), exec_failed.size()};
    auto forked = GANTRY_TRY_CTX(PidFd::vfork_exec(helper_entry, &start),
                                 "start the image helper for {}", ref);
    pipe.write.reset();
    ::fcntl(pipe.read.get(), F_SETFL, ::fcntl(pipe.read.get(), F_GETFL) | O_NONBLOCK);
    // 3. Watch output and exit on the loop.
    auto r = std::make_unique<Run>();
    Run* rp = r.get();
    r->ref = ref;
    r->proc = std::move(forked);
    r->out = std::move(pipe.read);
    r->waiters.push_back(std::move(done));
    auto out_src = loop.on_io(r->out.get(), EPOLLIN, [this, rp](uint32_t) { on_output(*rp); });
    auto watch = loop.on_child(r->proc, [this, ref](const ExitStatus& st) { on_exit(ref, st); });
    if (!out_src || !watch) {
        (void)r->proc.send_signal(SIGKILL);
        (void)r->proc.wait();
        return fail(std::move(!out_src ? out_src.error() : watch.error()));
    }
    r->out_src = std::move(*out_src);
    r->watch = std::move(*watch);
    ++runs_started_;
    log::info("image helper started",
              {{"image", ref}, {"pid", r->proc.pid()}, {"helper", helper_}});
    runs_.emplace(ref, std::move(r));
    return ok();
}

void ImageFetcher::on_output(Run& r) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(r.out.get(), buf, sizeof buf);
        if (n <= 0) {
            if (n == 0) {
                r.out_src.reset();  // EOF: the helper closed its end (it is exiting)
            }
            return;
        }
        for (const auto& m : r.report.feed(std::string_view(buf, static_cast<size_t>(n)))) {
            if (m.kind == image::HelperMessage::Kind::kProgress) {
                log::debug("image helper", {{"image", r.ref}, {"progress", m.text}});
            }
        }
    }
}

void ImageFetcher::on_exit(const std::string& ref, const ExitStatus& st) {
    auto it = runs_.find(ref);
    if (it == runs_.end()) {
        return;
    }
    std::unique_ptr<Run> r = std::move(it->second);
    runs_.erase(it);
    on_output(*r);  // the last words, written before the exit
    int code = st.kind == ExitStatus::Kind::Exited ? st.code : -st.signal;
    auto outcome = r->report.finish(code);
    Status result = ok();
    if (outcome) {
        resolved_[ref] = outcome->digest.str();
        if (opts_.pull == image::PullPolicy::kAlways) {
            fresh_.insert(ref);
        }
        log::info("image ready",
                  {{"image", ref}, {"name", outcome->name}, {"manifest", outcome->digest.str()}});
    } else {
        log::error("image not available", {{"image", ref}, {"error", outcome.error().str()}});
        result = fail(std::move(outcome).error());
    }
    std::vector<Done> waiters = std::move(r->waiters);
    // The Run's sources are inside their own callback now: free them on the next turn.
    dead_.push_back(std::move(r));
    if (loop_ != nullptr) {
        if (auto s = loop_->defer([this] { dead_.clear(); })) {
            reaper_ = std::move(*s);
        }
    }
    for (auto& w : waiters) {
        w(result);
    }
}

}  // namespace gantry::supervisor
