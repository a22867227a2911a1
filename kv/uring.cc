#include "kv/uring.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace gantry::kv {

namespace {

int sys_setup(unsigned entries, io_uring_params* p) {
    return static_cast<int>(::syscall(__NR_io_uring_setup, entries, p));
}

int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
    return static_cast<int>(
        ::syscall(__NR_io_uring_enter, fd, submit, wait, flags, nullptr, size_t{0}));
}

}  // namespace

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
    io_uring_params p{};
    int fd = sys_setup(entries, &p);
    if (fd < 0) {
        return fail(Error::sys("io_uring_setup"));
    }
    std::unique_ptr<Uring> u(new Uring());
    u->fd_.reset(fd);
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        return fail(Error::msg("io_uring without IORING_FEAT_SINGLE_MMAP (kernel < 5.4)"));
    }
    size_t sq_bytes = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_bytes = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    u->ring_bytes_ = std::max(sq_bytes, cq_bytes);
    void* ring = ::mmap(nullptr, u->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                        fd, IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) {
        return fail(Error::sys("mmap io_uring ring"));
    }
    u->ring_ = ring;
    u->sqes_bytes_ = p.sq_entries * sizeof(io_uring_sqe);
    void* sqes = ::mmap(nullptr, u->sqes_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                        fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        return fail(Error::sys("mmap io_uring sqes"));
    }
    u->sqes_ = static_cast<io_uring_sqe*>(sqes);
    auto* base = static_cast<char*>(ring);
    u->sq_tail_ = reinterpret_cast<unsigned*>(base + p.sq_off.tail);
    u->sq_mask_ = reinterpret_cast<unsigned*>(base + p.sq_off.ring_mask);
    u->sq_array_ = reinterpret_cast<unsigned*>(base + p.sq_off.array);
    u->cq_head_ = reinterpret_cast<unsigned*>(base + p.cq_off.head);
    u->cq_tail_ = reinterpret_cast<unsigned*>(base + p.cq_off.tail);
    u->cq_mask_ = reinterpret_cast<unsigned*>(base + p.cq_off.ring_mask);
    u->cqes_ = reinterpret_cast<io_uring_cqe*>(base + p.cq_off.cqes);
    u->entries_ = p.sq_entries;
    return u;
}

Uring::~Uring() {
    if (sqes_ != nullptr) {
        ::munmap(sqes_, sqes_bytes_);
    }
    if (ring_ != nullptr) {
        ::munmap(ring_, ring_bytes_);
    }
}

io_uring_sqe* Uring::next_sqe() {
    if (queued_ >= entries_) {
        return nullptr;
    }
    unsigned tail = *sq_tail_ + queued_;
    unsigned index = tail & *sq_mask_;
    sq_array_[index] = index;
    io_uring_sqe* sqe = &sqes_[index];
    std::memset(sqe, 0, sizeof *sqe);
    ++queued_;
    return sqe;
}

bool Uring::send(int fd, const void* buf, size_t len, uint64_t tag) {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) {
        return false;
    }
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = reinterpret_cast<uint64_t>(buf);
    sqe->len = static_cast<uint32_t>(std::min<size_t>(len, 1u << 30));
    // MSG_DONTWAIT: -EAGAIN at once when the socket buffer is full, never a poll armed for
    // later (which would leave the buffer in use after submit() returns).
    sqe->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    sqe->user_data = tag;
    return true;
}

bool Uring::recv(int fd, void* buf, size_t len, uint64_t tag) {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) {
        return false;
    }
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->addr = reinterpret_cast<uint64_t>(buf);
    sqe->len = static_cast<uint32_t>(std::min<size_t>(len, 1u << 30));
    sqe->msg_flags = MSG_DONTWAIT;
    sqe->user_data = tag;
    return true;
}

unsigned Uring::enter_submit(unsigned n) {
    if (n == 0) {
        return 0;
    }
    // The kernel reads the tail after this store (io_uring_enter is the barrier's other half).
    __atomic_store_n(sq_tail_, *sq_tail_ + n, __ATOMIC_RELEASE);
    while (true) {
        int r = sys_enter(fd_.get(), n, 0, 0);
        if (r >= 0) {
            return static_cast<unsigned>(r);
        }
        if (errno != EINTR) {
            return 0;  // EAGAIN, EBUSY, ENOMEM...: none taken; the caller falls back
        }
    }
}

uint64_t Uring::tag_of_unsubmitted(unsigned k) const {
    unsigned index = (*sq_tail_ - k) & *sq_mask_;
    return sqes_[index].user_data;
}

void Uring::rewind(unsigned k) {
    // Entries the kernel did not consume: take them back out of the ring.
    __atomic_store_n(sq_tail_, *sq_tail_ - k, __ATOMIC_RELEASE);
}

void Uring::wait_one() {
    while (sys_enter(fd_.get(), 0, 1, IORING_ENTER_GETEVENTS) < 0 && errno == EINTR) {
    }
}

std::pair<uint64_t, int32_t> Uring::cqe_at(unsigned index) const {
    const io_uring_cqe& c = cqes_[index];
    return {c.user_data, c.res};
}

}  // namespace gantry::kv
