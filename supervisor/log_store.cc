#include "supervisor/log_store.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "base/log.h"

namespace gantry::supervisor {

namespace {

constexpr size_t kMaxLine = 16 * 1024;
// `logs --tail` reads at most this much of each file, so a request cannot make PID 1
// read gigabytes.
constexpr size_t kMaxReadPerFile = 4 << 20;

std::vector<std::string> read_lines_tail(const std::string& path) {
    std::vector<std::string> out;
    auto fd = Fd::open(path, O_RDONLY);
    if (!fd) {
        return out;
    }
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) {
        return out;
    }
    off_t start = st.st_size > static_cast<off_t>(kMaxReadPerFile)
                      ? st.st_size - static_cast<off_t>(kMaxReadPerFile)
                      : 0;
    std::string data(static_cast<size_t>(st.st_size - start), '\0');
    ssize_t n = ::pread(fd->get(), data.data(), data.size(), start);
    if (n <= 0) {
        return out;
    }
    data.resize(static_cast<size_t>(n));
    std::string_view v(data);
    if (start > 0) {
        size_t nl = v.find('\n');  // the first line is cut: drop it
        v = nl == std::string_view::npos ? std::string_view() : v.substr(nl + 1);
    }
    while (!v.empty()) {
        size_t nl = v.find('\n');
        out.emplace_back(v.substr(0, nl));
        v = nl == std::string_view::npos ? std::string_view() : v.substr(nl + 1);
    }
    return out;
}

}  // namespace

std::string format_log_line(int64_t realtime_us, Stream s, std::string_view text) {
    time_t secs = static_cast<time_t>(realtime_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} {}", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       realtime_us % 1000000, s == Stream::Stdout ? "stdout" : "stderr", text);
}

int64_t parse_log_time(std::string_view line) {
    // YYYY-MM-DDTHH:MM:SS.uuuuuuZ
    if (line.size() < 27 || line[4] != '-' || line[10] != 'T' || line[26] != 'Z') {
        return -1;
    }
    auto num = [&](size_t pos, size_t len) {
        int v = -1;
        std::from_chars(line.data() + pos, line.data() + pos + len, v);
        return v;
    };
    struct tm tm {};
    tm.tm_year = num(0, 4) - 1900;
    tm.tm_mon = num(5, 2) - 1;
    tm.tm_mday = num(8, 2);
    tm.tm_hour = num(11, 2);
    tm.tm_min = num(14, 2);
    tm.tm_sec = num(17, 2);
    int us = num(20, 6);
    if (us < 0 || tm.tm_mday < 0) {
        return -1;
    }
    return static_cast<int64_t>(timegm(&tm)) * 1000000 + us;
}

ServiceLog::ServiceLog(std::string service, std::string dir, LogLimits limits, size_t ring_bytes)
    : service_(std::move(service)), limits_(limits), ring_bytes_(ring_bytes) {
    if (!dir.empty()) {
        if (auto st = attach_dir(dir); !st) {
            log::warn("service log stays in memory",
                      {{"service", service_}, {"error", st.error().str()}});
        }
    }
}

Status ServiceLog::attach_dir(const std::string& dir) {
    dir_ = dir;
    path_ = dir + "/" + service_ + ".log";
    GANTRY_TRY(open_file());
    std::deque<std::string> ring = std::move(ring_);
    ring_.clear();
    ring_size_ = 0;
    for (auto& line : ring) {
        store(std::move(line));
    }
    return ok();
}

Status ServiceLog::open_file() {
    // mkdir -p: /var/log may not exist yet on a fresh state partition.
    for (size_t i = 1; i <= dir_.size(); ++i) {
        if (i == dir_.size() || dir_[i] == '/') {
            ::mkdir(dir_.substr(0, i).c_str(), 0755);
        }
    }
    auto fd = Fd::open(path_, O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (!fd) {
        path_.clear();
        return fail(std::move(fd).error());
    }
    struct stat st;
    file_size_ = ::fstat(fd->get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    file_ = std::move(*fd);
    return ok();
}

// The live file keeps its name throughout, so a reader (`tail -F`, a test) never finds it
// missing: the older files shift up, the live one is hard-linked as .1, and a fresh empty
// file is renamed over the live name (rename replaces atomically). Without hard links
// (or if the fresh file cannot be made) it falls back to a plain rename.
void ServiceLog::rotate() {
    file_.reset();
    if (limits_.max_files <= 1) {
        ::truncate(path_.c_str(), 0);
    } else {
        for (int i = limits_.max_files - 1; i >= 2; --i) {
            ::rename(fmt::format("{}.{}", path_, i - 1).c_str(),
                     fmt::format("{}.{}", path_, i).c_str());
        }
        std::string first = path_ + ".1";
        std::string fresh = path_ + ".new";
        ::unlink(first.c_str());
        bool linked = ::link(path_.c_str(), first.c_str()) == 0;
        bool replaced = false;
        if (linked) {
            auto fd = Fd::open(fresh, O_WRONLY | O_CREAT | O_TRUNC, 0640);
            replaced = fd && ::rename(fresh.c_str(), path_.c_str()) == 0;
        }
        if (!replaced) {
            ::unlink(fresh.c_str());
            if (linked) {
                ::unlink(path_.c_str());  // its lines are safe under .1
            } else {
                ::rename(path_.c_str(), first.c_str());
            }
        }
    }
    if (!open_file()) {
        log::warn("service log rotation failed; logging to memory", {{"service", service_}});
    }
}

void ServiceLog::store(std::string line) {
    line.push_back('\n');
    bytes_written_ += line.size();
    if (file_.valid()) {
        if (file_size_ > 0 && file_size_ + line.size() > limits_.max_size) {
            rotate();
        }
    }
    if (file_.valid()) {
        // A failed write (disk full) loses the line rather than blocking or retrying.
        if (write_all(file_.get(), line)) {
            file_size_ += line.size();
        }
    } else {
        ring_size_ += line.size();
        ring_.push_back(line);
        while (ring_size_ > ring_bytes_ && !ring_.empty()) {
            ring_size_ -= ring_.front().size();
            ring_.pop_front();
        }
    }
    if (on_line) {
        line.pop_back();
        on_line(line);
    }
}

void ServiceLog::feed(Stream s, std::string_view bytes, int64_t realtime_us) {
    std::string& part = partial_[s == Stream::Stdout ? 0 : 1];
    while (!bytes.empty()) {
        size_t nl = bytes.find('\n');
        if (nl == std::string_view::npos) {
            size_t take = std::min(bytes.size(), kMaxLine - part.size());
            part.append(bytes.substr(0, take));
            bytes.remove_prefix(take);
            if (part.size() >= kMaxLine) {
                store(format_log_line(realtime_us, s, part));
                part.clear();
            }
            continue;
        }
        part.append(bytes.substr(0, nl));
        store(format_log_line(realtime_us, s, part));
        part.clear();
        bytes.remove_prefix(nl + 1);
    }
}

void ServiceLog::flush(int64_t realtime_us) {
    for (int i = 0; i < 2; ++i) {
        if (!partial_[i].empty()) {
            store(format_log_line(realtime_us, i == 0 ? Stream::Stdout : Stream::Stderr,
                                  partial_[i]));
            partial_[i].clear();
        }
    }
}

std::vector<std::string> ServiceLog::tail(size_t n, int64_t since_us) const {
    std::vector<std::string> lines;
    if (!path_.empty()) {
        // Oldest rotated file first, the live file last.
        for (int i = limits_.max_files - 1; i >= 0; --i) {
            std::string p = i == 0 ? path_ : fmt::format("{}.{}", path_, i);
            auto part = read_lines_tail(p);
            lines.insert(lines.end(), std::make_move_iterator(part.begin()),
                         std::make_move_iterator(part.end()));
        }
    }
    for (const auto& l : ring_) {
        lines.emplace_back(std::string_view(l).substr(0, l.size() - 1));
    }
    if (since_us > 0) {
        std::erase_if(lines, [&](const std::string& l) { return parse_log_time(l) < since_us; });
    }
    if (n > 0 && lines.size() > n) {
        lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
    }
    return lines;
}

}  // namespace gantry::supervisor
