// The uncompressed byte stream of a layer blob, inflated and hashed on a helper thread.
//
// Unpacking a layer is two kinds of work: inflating and hashing the stream (user CPU:
// zlib, SHA-256) and creating files (kernel CPU: inode allocation, page-cache writes). A
// second thread overlaps the two, so the tar reader and every filesystem call stay on the
// caller's thread, in stream order, exactly as they were single-threaded; only the
// decompressor moves. Buffers are handed over through a small ring (kSlots x kSlotSize),
// which bounds the memory in flight. If the thread cannot be started the stream is
// produced inline on the caller's thread instead.
#pragma once

#include <archive.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::image {

class LayerStream {
  public:
    LayerStream() = default;
    LayerStream(const LayerStream&) = delete;
    LayerStream& operator=(const LayerStream&) = delete;
    // Stops and joins the helper thread if it is still running.
    ~LayerStream();

    // Opens the blob `fd` (gzip, zstd, xz, bzip2 or plain) and starts the helper thread.
    // More than `limit` uncompressed bytes is an error (EFBIG): a decompression bomb.
    Status open(int fd, uint64_t limit);

    // The next chunk of the uncompressed stream, valid until the next call; empty at the
    // end. Errors (corrupt data, over the limit) come after every chunk before them.
    Result<std::string_view> next();

    // After next() returned the end: the sha256 of the whole stream.
    Digest digest();

  private:
    static constexpr size_t kSlots = 4;
    static constexpr size_t kSlotSize = 1 << 20;

    struct ReadFree {
        void operator()(archive* a) const { archive_read_free(a); }
    };

    // Reads and hashes one chunk into `buf`: its size, 0 at the end.
    Result<size_t> produce(char* buf);
    void run();

    std::unique_ptr<archive, ReadFree> outer_;
    Sha256 hash_;
    uint64_t limit_ = 0;
    std::unique_ptr<char[]> bufs_;  // kSlots * kSlotSize
    size_t lens_[kSlots] = {};

    // Ring state, guarded by mu_: slots [tail_, head_) are full; the consumer holds slot
    // tail_ between next() calls (libarchive reads the chunk it was given until then).
    std::mutex mu_;
    std::condition_variable cv_;
    uint64_t head_ = 0;
    uint64_t tail_ = 0;
    bool holding_ = false;
    bool done_ = false;  // the producer has pushed its last chunk (or failed)
    bool stop_ = false;  // the consumer gave up: the producer exits
    std::optional<Error> error_;
    std::thread thread_;
    bool threaded_ = false;
};

}  // namespace gantry::image
