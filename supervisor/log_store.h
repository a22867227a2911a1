// Service output: lines from stdout/stderr, timestamped, into size-rotated files
// (<dir>/<service>.log, .log.1, ...) or, while no log directory is usable (PID 1 before
// /var is mounted), into a bounded in-memory ring that is written out once one is.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "supervisor/service_spec.h"

namespace gantry::supervisor {

enum class Stream { Stdout, Stderr };

// "2026-11-22T18:55:56.123456Z stdout hello": what goes into the file, one per line.
std::string format_log_line(int64_t realtime_us, Stream s, std::string_view text);
// The timestamp of a formatted line in microseconds since the epoch, or -1.
int64_t parse_log_time(std::string_view line);

class ServiceLog {
  public:
    // `dir` "" starts in ring mode. `ring_bytes` bounds the ring.
    ServiceLog(std::string service, std::string dir, LogLimits limits, size_t ring_bytes = 1 << 20);

    // Raw bytes from a stream; complete lines are stored, a partial one is buffered (and
    // cut at 16 KiB so a line without newlines cannot grow without bound).
    void feed(Stream s, std::string_view bytes, int64_t realtime_us);
    // Stores whatever partial lines are buffered (at exit of the process).
    void flush(int64_t realtime_us);
    // Switches to file mode under `dir`, writing out the ring first.
    Status attach_dir(const std::string& dir);

    // The last `n` lines (0 = all) at or after `since_us` (0 = any), oldest first.
    std::vector<std::string> tail(size_t n, int64_t since_us) const;

    // Called with each stored line (already formatted), for `logs -f`.
    std::function<void(const std::string&)> on_line;

    const std::string& path() const { return path_; }
    bool file_mode() const { return file_.valid(); }
    uint64_t bytes_written() const { return bytes_written_; }

  private:
    void store(std::string line);
    Status open_file();
    void rotate();

    std::string service_;
    std::string dir_;
    std::string path_;
    LogLimits limits_;
    size_t ring_bytes_;
    Fd file_;
    uint64_t file_size_ = 0;
    uint64_t bytes_written_ = 0;
    std::string partial_[2];
    std::deque<std::string> ring_;
    size_t ring_size_ = 0;
};

}  // namespace gantry::supervisor
