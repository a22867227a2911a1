// The WAL's sync thread: asynchronous group commit for the server (see Wal::start_async in
// kv/wal.h). While one round's records are being written and synced, the event loop reads
// and applies the next requests, so a round costs max(sync, CPU) instead of their sum.
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "kv/wal.h"

namespace gantry::kv {

Status Wal::start_async() {
    if (thread_.joinable()) {
        return ok();
    }
    sync_event_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!sync_event_) {
        return fail(Error::sys("eventfd for the wal sync thread"));
    }
    // The thread takes the loop's scheduling policy (SCHED_FIFO in gantry-kv, see
    // kv/realtime.h), so its wake-up after each disk wait is as prompt as the loop's; it is
    // not inherited under SCHED_RESET_ON_FORK.
    int policy = ::sched_getscheduler(0);
    sched_param param{};
    ::sched_getparam(0, &param);
    thread_ = std::thread([this, policy, param] {
        if (policy >= 0) {
            ::sched_setscheduler(0, policy, &param);
        }
        sync_thread();
    });
    return ok();
}

void Wal::stop_async() {
    if (!thread_.joinable()) {
        return;
    }
    {
        std::lock_guard lock(mu_);
        quit_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

void Wal::start_sync() {
    if (in_flight_ || durable_seq_ >= last_seq_ || !thread_.joinable()) {
        return;
    }
    {
        std::lock_guard lock(mu_);
        job_.start = segment_bytes_ - pending_.size();
        job_.end = segment_bytes_;
        job_.seq = last_seq_;
        job_.fdatasync_needed = written_unsynced_;
        job_.data.swap(pending_);
        job_ready_ = true;
    }
    pending_.clear();
    written_unsynced_ = false;
    in_flight_ = true;
    in_flight_seq_ = last_seq_;
    cv_.notify_one();
}

// The thread writes the eventfd once per job, after marking it done under mu_ (which
// orders its writes to the WAL's state before ours), and one job is in flight at a time.
void Wal::finish_sync() {
    uint64_t n = 0;
    if (!in_flight_ || ::read(sync_event_.get(), &n, sizeof n) != sizeof n) {
        return;
    }
    std::lock_guard lock(mu_);
    job_done_ = false;
    durable_seq_ = std::max(durable_seq_, in_flight_seq_);
    in_flight_ = false;
}

// Blocks until the sync in flight (if any) is done: for sync(), snapshots and shutdown,
// which touch the file themselves.
void Wal::wait_in_flight() {
    while (in_flight_) {
        pollfd p{sync_event_.get(), POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
            log::error("wal: waiting for the sync thread failed; stopping",
                       {{"error", std::strerror(errno)}});
            std::abort();
        }
        finish_sync();
    }
}

void Wal::sync_thread() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return job_ready_ || quit_; });
            if (!job_ready_) {
                return;
            }
            job_ready_ = false;
            job = std::move(job_);
            job_ = Job{};
        }
        // persist() aborts the process on a write or sync error, as the inline path does.
        persist(job.data, job.start, job.end, job.fdatasync_needed);
        {
            std::lock_guard lock(mu_);
            job_done_ = true;
        }
        uint64_t one = 1;
        if (::write(sync_event_.get(), &one, sizeof one) != sizeof one) {
            log::error("wal sync thread: eventfd write failed; stopping",
                       {{"error", std::strerror(errno)}});
            std::abort();
        }
    }
}

}  // namespace gantry::kv
