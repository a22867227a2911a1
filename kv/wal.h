// The write-ahead log: every store mutation is appended here before it is acknowledged.
//
// Layout of a directory:
//     snap-<seq>.snap    the whole store as of record <seq> (written atomically)
//     wal-<seq>.log      records <seq>, <seq>+1, ... (one segment per snapshot interval)
// A record is an 8-byte header {u32 length, u32 crc} followed by the payload, padded to a
// multiple of 8. Records start 8-aligned so a header never straddles a sector: a torn
// write can cut a payload short but never leave half a length. The CRC is chained over
// payloads (crc32c seeded with the previous record's crc) so a stale record from an older
// write cannot pass as the next one.
//
// Group commit: appends collect in memory as the store applies mutations, and the owner
// calls sync() once per batch: one pwritev2(RWF_DSYNC) writes and makes durable every
// record appended before it, however many clients sent them. The server calls it once per
// event-loop round, so all requests that arrived together share one sync, and the ones that
// arrive during it form the next batch. There is no sync thread: on a busy 2-core machine
// each hand-off between threads (condition variable, eventfd) cost a scheduler wake-up,
// which dominated the latency of a single client's put.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/fd.h"
#include "kv/store.h"

namespace gantry::kv {

struct WalOptions {
    // A snapshot is taken and older segments dropped once a segment grows past this.
    uint64_t snapshot_bytes = 64ull << 20;
    // Off only in tests that measure logic, never in the server.
    bool sync = true;
};

// What recovery found, for logs and tests.
struct RecoveryReport {
    uint64_t snapshot_seq = 0;
    uint64_t records = 0;
    uint64_t last_seq = 0;
    bool torn_tail = false;
    std::string broken_copy;  // where the torn file was copied before truncation
};

class Wal : public StoreListener {
  public:
    // Recovers `dir` into `store` (which must be empty) and opens the log for appending.
    // A torn tail is cut off (after copying the file aside); corruption before the tail
    // is an error that names the file and offset, and nothing is changed on disk.
    static Result<std::unique_ptr<Wal>> open(const std::string& dir, Store& store,
                                             WalOptions options = {},
                                             RecoveryReport* report = nullptr);
    ~Wal() override;

    // StoreListener: each appends one record.
    void on_commit(const Commit& commit) override;
    void on_lease_grant(int64_t id, int64_t ttl) override;
    void on_lease_revoke(int64_t id) override;
    void on_compact(int64_t revision) override;

    uint64_t last_seq() const { return last_seq_; }
    uint64_t durable_seq() const { return durable_seq_; }
    // Makes everything appended so far durable (one pwritev2(RWF_DSYNC), or write +
    // fdatasync when the segment grows a zero chunk); no-op if it already is.
    void sync();
    void flush() { sync(); }
    // Takes a snapshot now if the current segment passed options.snapshot_bytes.
    Status maybe_snapshot();
    // Takes a snapshot and starts a new segment unconditionally.
    Status snapshot();

  private:
    Wal(std::string dir, Store& store, WalOptions options);
    Status recover(RecoveryReport& report);
    Status open_segment(uint64_t first_seq);
    void append(std::string payload);
    void write_pending();
    bool extend_zeroed();
    bool dsync_write(uint64_t offset);
    void write_at(std::string_view data, uint64_t offset);

    std::string dir_;
    Store& store_;
    WalOptions options_;
    uint64_t last_seq_ = 0;
    uint32_t chain_crc_ = 0;
    uint64_t segment_bytes_ = 0;
    uint64_t zeroed_bytes_ = 0;  // the segment's blocks up to here are written (zeros or records)
    std::string segment_path_;
    std::string pending_;            // records appended since the last sync, not yet written
    bool written_unsynced_ = false;  // records written by write_pending(), not yet synced
    Fd fd_;
    uint64_t durable_seq_ = 0;
};

// Exposed for tests: parses one segment's bytes. Returns the offset after the last valid
// record, the records' payloads through `f`, and whether the stop was a torn tail.
struct SegmentScan {
    uint64_t valid_bytes = 0;
    uint32_t last_crc = 0;
    bool clean = true;  // the file ended exactly after a valid record (or with zeros)
    bool torn = false;  // a bad record that reaches the end of the file
    std::string error;  // set when the bad record is followed by more data
};

}  // namespace gantry::kv

namespace gantry::kv {
SegmentScan scan_segment(std::string_view data,
                         const std::function<bool(std::string_view)>& on_record);
}  // namespace gantry::kv
