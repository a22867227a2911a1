// A small pool of threads that create regular files for the unpacker.
//
// Creating a small file is four syscalls (openat, write, futimens, close) of mostly kernel
// time; the tar reader that finds the next file is user time on another thread. The
// unpacker keeps parsing, path resolution and every other kind of entry on its own thread
// and hands whole small files (content copied out of the stream) to this pool. Ordering is
// the unpacker's job (unpack.cc): it drains the pool before any entry that could see or
// change a path a queued file touches. A worker never removes anything: when a file's name
// is taken (EEXIST) the job comes back from drain() to be redone in order by the caller.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::image {

struct FileJob {
    std::shared_ptr<Fd> parent;  // the directory, kept open while the job is queued
    std::string base;            // name in `parent`
    std::string path;            // for errors
    std::string data;
    mode_t create_mode = 0600;
    std::optional<mode_t> chmod;  // when the create mode is not already the final one
    std::optional<std::pair<uid_t, gid_t>> chown;
    timespec mtime{};
    uint64_t seq = 0;  // submission order (set by submit)
};

class FileWriters {
  public:
    // Starts up to `threads` workers; with none (or none startable) active() is false and
    // the caller writes files itself. At most `max_bytes` of content waits in the queue.
    FileWriters(unsigned threads, size_t max_bytes);
    FileWriters(const FileWriters&) = delete;
    FileWriters& operator=(const FileWriters&) = delete;
    ~FileWriters();

    bool active() const { return !threads_.empty(); }

    // Queues a file; blocks while the queue holds more than max_bytes.
    void submit(FileJob job);

    // Waits until every queued file is done. Returns the jobs whose name was taken, in
    // submission order, for the caller to redo; or the first other error.
    Result<std::vector<FileJob>> drain();

    // What a worker does with one job; also the caller's way to redo one (after clearing
    // the name). EEXIST from the create is returned as is.
    static Status write_file(const FileJob& job);

  private:
    void run();

    size_t max_bytes_;
    std::mutex mu_;
    std::condition_variable work_cv_;  // workers wait for jobs
    std::condition_variable done_cv_;  // submit() and drain() wait for room / completion
    std::deque<FileJob> queue_;
    size_t queued_bytes_ = 0;
    uint64_t submitted_ = 0;
    uint64_t finished_ = 0;
    std::vector<FileJob> taken_;                       // EEXIST
    std::optional<std::pair<uint64_t, Error>> error_;  // the earliest by seq
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace gantry::image
