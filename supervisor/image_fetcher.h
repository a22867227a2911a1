// ImageFetcher: the image work PID 1 does not do itself. A service whose image is missing
// from the store, or whose layers are not unpacked, gets it from the image helper
// (`gantry-image ensure`, image/helper_main.cc): a child process started here, watched
// through its pidfd and its stdout pipe on the event loop, so a slow registry never
// blocks the loop (API, reaping, health checks go on). One helper per image at a time:
// every service that needs the image while it runs waits for that same run.
//
// Images already in the store with every layer unpacked (the normal boot: gantry-build
// ships them so) need no helper: ready() answers from the store, no exec.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/event_loop.h"
#include "image/ensure.h"
#include "image/oci.h"
#include "image/store.h"

namespace gantry::supervisor {

struct ImageFetcherOptions {
    std::string store_dir = std::string(image::kDefaultStoreRoot);
    // The helper binary. "" = `gantry-image` beside the running gantry-init (the build
    // tree puts it there), else /usr/bin/gantry-image (the OS image).
    std::string helper;
    image::PullPolicy pull = image::PullPolicy::kMissing;
};

// Transport references (oci:, oci-archive:, docker-archive:) are imported, never found by
// name in the store as written.
bool is_transport_ref(std::string_view ref);

// The image as the store has it now, without fetching: by name or digest; a transport
// reference is "not there" (ENOENT) until a helper imported it.
Result<image::Image> load_local(const image::Store& store, std::string_view ref);

class ImageFetcher {
  public:
    explicit ImageFetcher(ImageFetcherOptions opts);
    ~ImageFetcher();  // helpers still running are killed
    ImageFetcher(const ImageFetcher&) = delete;
    ImageFetcher& operator=(const ImageFetcher&) = delete;

    // The image as services use it: after a helper run, the one it reported.
    Result<image::Image> local(const std::string& ref) const;
    // True when a container can start from `ref` now: in the store, every layer unpacked
    // (and, with pull: always, fetched since the last start).
    bool ready(const std::string& ref) const;
    // A start used the image (pull: always wants a new pull for the next one).
    void used(const std::string& ref);

    using Done = std::function<void(Status)>;
    // Runs the helper for `ref`, or joins the run in progress. `done` runs on the loop
    // when it ends: ok, or the helper's error (what, where, what to do).
    Status fetch(EventLoop& loop, const std::string& ref, Done done);
    // What a run in progress is doing ("pulling layer sha256:... 1234/5678 bytes"), or "".
    std::string progress(const std::string& ref) const;
    // Helper processes are reaped through their pidfds; PID 1's orphan reaper skips them.
    bool tracks(pid_t pid) const;
    // How many helpers ran since start (tests and the boot log).
    int runs_started() const { return runs_started_; }
    const std::string& helper_path() const { return helper_; }

  private:
    struct Run;
    void on_output(Run& r);
    void on_exit(const std::string& ref, const ExitStatus& st);

    ImageFetcherOptions opts_;
    std::string helper_;
    std::map<std::string, std::unique_ptr<Run>> runs_;  // by ref, while the helper runs
    std::map<std::string, std::string> resolved_;       // ref -> the name the helper reported
    std::set<std::string> fresh_;                       // pull: always, fetched, not yet used
    std::vector<std::unique_ptr<Run>> dead_;            // freed outside their callbacks
    Source reaper_;
    EventLoop* loop_ = nullptr;
    int runs_started_ = 0;
};

}  // namespace gantry::supervisor
