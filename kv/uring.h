// A minimal io_uring, used by the server to batch one event-loop round's socket reads and
// its sends into one system call each. On this machine (a PVM guest) a system call costs
// ~1.7 µs of entry and exit alone, and with 16 clients a round did 16 reads and 16 sends.
//
// Only non-blocking operations: every send and recv is queued with MSG_DONTWAIT, which makes
// io_uring finish it inline with -EAGAIN instead of arming a poll for later. So submit()
// returns with every queued operation complete, and the buffers are free again when it
// returns; there is never an operation in flight between rounds.
//
// Raw system calls against <linux/io_uring.h>, not liburing: a few dozen lines, no new
// package, nothing more for gantry-kv's static link.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/error.h"
#include "base/fd.h"

struct io_uring_sqe;
struct io_uring_cqe;

namespace gantry::kv {

class Uring {
  public:
    // Fails where io_uring is unavailable (an old kernel, kernel.io_uring_disabled, a
    // seccomp filter); the caller then uses plain system calls.
    static Result<std::unique_ptr<Uring>> create(unsigned entries);
    ~Uring();
    Uring(const Uring&) = delete;
    Uring& operator=(const Uring&) = delete;

    // How many operations one submit() can carry.
    unsigned capacity() const { return entries_; }
    // Queue a non-blocking send (MSG_NOSIGNAL) or recv; `tag` comes back with the result.
    // False when capacity() operations are queued already.
    bool send(int fd, const void* buf, size_t len, uint64_t tag);
    bool recv(int fd, void* buf, size_t len, uint64_t tag);
    // Submits what is queued, waits until all of it completed (inline: nothing blocks), and
    // calls f(tag, result) for each, where result is what send(2)/recv(2) would have returned
    // or -errno. An error means the kernel took none of it (the queue is dropped).
    // Submits what is queued and calls f(tag, result) once for each operation: what
    // send(2)/recv(2) would have returned, or -errno; -ECANCELED when the kernel did not take
    // it (io_uring_enter failed): nothing happened, as for -EAGAIN. Never blocks: every
    // operation is non-blocking and completes inside the one io_uring_enter.
    template <typename F>
    void submit(F&& f) {
        unsigned n = queued_;
        queued_ = 0;
        unsigned taken = enter_submit(n);
        for (unsigned i = taken; i < n; ++i) {
            f(tag_of_unsubmitted(n - i), -ECANCELED);
        }
        rewind(n - taken);
        for (unsigned done = 0; done < taken;) {
            if (!reap([&](uint64_t tag, int32_t res) { f(tag, res), ++done; })) {
                wait_one();
            }
        }
    }

  private:
    Uring() = default;
    io_uring_sqe* next_sqe();
    // io_uring_enter for `n` queued entries; how many the kernel took.
    unsigned enter_submit(unsigned n);
    // The tag of the k-th last queued entry (k >= 1), and dropping the last k from the queue.
    uint64_t tag_of_unsubmitted(unsigned k) const;
    void rewind(unsigned k);
    // Waits for one completion (only if one is somehow not posted yet).
    void wait_one();
    // Calls f for each completion posted; false if there was none.
    template <typename F>
    bool reap(F&& f) {
        unsigned head = *cq_head_;
        unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
        if (head == tail) {
            return false;
        }
        for (; head != tail; ++head) {
            auto [tag, res] = cqe_at(head & *cq_mask_);
            f(tag, res);
        }
        __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
        return true;
    }
    std::pair<uint64_t, int32_t> cqe_at(unsigned index) const;

    Fd fd_;
    void* ring_ = nullptr;
    size_t ring_bytes_ = 0;
    io_uring_sqe* sqes_ = nullptr;
    size_t sqes_bytes_ = 0;
    unsigned entries_ = 0;
    unsigned queued_ = 0;
    unsigned* sq_tail_ = nullptr;
    unsigned* sq_mask_ = nullptr;
    unsigned* sq_array_ = nullptr;
    unsigned* cq_head_ = nullptr;
    unsigned* cq_tail_ = nullptr;
    unsigned* cq_mask_ = nullptr;
    io_uring_cqe* cqes_ = nullptr;
};

}  // namespace gantry::kv
