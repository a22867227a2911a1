#include "image/file_writers.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace gantry::image {

FileWriters::FileWriters(unsigned threads, size_t max_bytes) : max_bytes_(max_bytes) {
    for (unsigned i = 0; i < threads; ++i) {
        try {
            threads_.emplace_back([this] { run(); });
        } catch (const std::system_error&) {
            break;  // fewer workers (or none: the caller writes files itself)
        }
    }
}

FileWriters::~FileWriters() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        queue_.clear();  // the unpack failed (drain() empties it otherwise): write no more
    }
    work_cv_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
}

Status FileWriters::write_file(const FileJob& job) {
    int raw = ::openat(job.parent->get(), job.base.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, job.create_mode);
    if (raw < 0) {
        return fail(Error::sys("open '{}'", job.path));
    }
    Fd fd(raw);
    GANTRY_TRY_CTX(write_all(fd.get(), job.data), "write '{}'", job.path);
    // Owner before mode: chown clears set-id bits.
    if (job.chown && ::fchown(fd.get(), job.chown->first, job.chown->second) != 0) {
        return fail(Error::sys("chown '{}'", job.path));
    }
    if (job.chmod && ::fchmod(fd.get(), *job.chmod) != 0) {
        return fail(Error::sys("chmod '{}'", job.path));
    }
    timespec ts[2] = {job.mtime, job.mtime};
    ::futimens(fd.get(), ts);
    return ok();
}

void FileWriters::submit(FileJob job) {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return queued_bytes_ <= max_bytes_ || queue_.empty(); });
    job.seq = submitted_++;
    queued_bytes_ += job.data.size();
    queue_.push_back(std::move(job));
    lock.unlock();
    work_cv_.notify_one();
}

void FileWriters::run() {
    for (;;) {
        FileJob job;
        {
            std::unique_lock lock(mu_);
            work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) {
                return;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
            queued_bytes_ -= job.data.size();
        }
        auto st = write_file(job);
        {
            std::lock_guard lock(mu_);
            if (!st && st.error().code() == EEXIST) {
                taken_.push_back(std::move(job));
            } else if (!st && (!error_ || job.seq < error_->first)) {
                error_.emplace(job.seq, std::move(st.error()));
            }
            ++finished_;
        }
        done_cv_.notify_all();
    }
}

Result<std::vector<FileJob>> FileWriters::drain() {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return finished_ == submitted_; });
    if (error_) {
        auto err = std::move(error_->second);
        error_.reset();
        taken_.clear();
        return fail(std::move(err));
    }
    std::vector<FileJob> taken = std::move(taken_);
    taken_.clear();
    std::sort(taken.begin(), taken.end(),
              [](const FileJob& a, const FileJob& b) { return a.seq < b.seq; });
    return taken;
}

}  // namespace gantry::image
