#include "image/layer_stream.h"

#include <system_error>

namespace gantry::image {

LayerStream::~LayerStream() {
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
}

Status LayerStream::open(int fd, uint64_t limit) {
    limit_ = limit;
    // 1. Any compression, "raw" format: the decompressed tar as one entry.
    outer_.reset(archive_read_new());
    archive_read_support_filter_all(outer_.get());
    archive_read_support_format_raw(outer_.get());
    if (archive_read_open_fd(outer_.get(), fd, 1 << 18) != ARCHIVE_OK) {
        return fail(Error::msg("open layer: {}", archive_error_string(outer_.get())));
    }
    archive_entry* raw_entry = nullptr;
    if (archive_read_next_header(outer_.get(), &raw_entry) != ARCHIVE_OK) {
        return fail(Error::msg("open layer: {}", archive_error_string(outer_.get())));
    }
    bufs_ = std::make_unique_for_overwrite<char[]>(kSlots * kSlotSize);
    // 2. The helper thread; without one, next() inflates inline.
    try {
        thread_ = std::thread([this] { run(); });
        threaded_ = true;
    } catch (const std::system_error&) {
        threaded_ = false;
    }
    return ok();
}

Result<size_t> LayerStream::produce(char* buf) {
    la_ssize_t n = archive_read_data(outer_.get(), buf, kSlotSize);
    if (n < 0) {
        return fail(
            Error::with_errno(archive_errno(outer_.get()),
                              fmt::format("decompress: {}", archive_error_string(outer_.get()))));
    }
    hash_.update(buf, static_cast<size_t>(n));
    if (hash_.bytes() > limit_) {
        return fail(Error::with_errno(EFBIG, "uncompressed layer exceeds the size limit"));
    }
    return static_cast<size_t>(n);
}

void LayerStream::run() {
    for (;;) {
        size_t slot;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || head_ - tail_ < kSlots; });
            if (stop_) {
                return;
            }
            slot = head_ % kSlots;
        }
        // The slot is free and only this thread writes it until head_ moves past it.
        auto n = produce(bufs_.get() + slot * kSlotSize);
        {
            std::lock_guard lock(mu_);
            if (!n) {
                error_ = std::move(n.error());
                done_ = true;
            } else if (*n == 0) {
                done_ = true;
            } else {
                lens_[slot] = *n;
                ++head_;
            }
        }
        cv_.notify_all();
        if (!n || *n == 0) {
            return;
        }
    }
}

Result<std::string_view> LayerStream::next() {
    if (!threaded_) {
        if (done_) {
            return std::string_view();
        }
        size_t n = GANTRY_TRY(produce(bufs_.get()));
        done_ = n == 0;
        return std::string_view(bufs_.get(), n);
    }
    std::unique_lock lock(mu_);
    if (holding_) {
        ++tail_;
        holding_ = false;
        cv_.notify_all();
    }
    cv_.wait(lock, [&] { return head_ > tail_ || done_; });
    if (head_ > tail_) {
        holding_ = true;
        size_t slot = tail_ % kSlots;
        return std::string_view(bufs_.get() + slot * kSlotSize, lens_[slot]);
    }
    if (error_) {
        return fail(*error_);
    }
    return std::string_view();
}

Digest LayerStream::digest() {
    if (thread_.joinable()) {
        thread_.join();  // it has finished: next() saw done_
    }
    return hash_.finish();
}

}  // namespace gantry::image
