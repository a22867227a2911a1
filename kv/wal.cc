#include "kv/wal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <vector>

#include "base/log.h"
#include "kv/codec.h"

namespace gantry::kv {

namespace {

enum RecordType : uint8_t {
    kCommit = 1,
    kLeaseGrant = 2,
    kLeaseRevoke = 3,
    kCompact = 4,
};

constexpr uint64_t kHeaderBytes = 8;
constexpr uint32_t kMaxRecord = 64u << 20;
// Segments grow in zero-filled chunks written ahead of the records. Not fallocate(): on
// ext4 fallocate leaves "unwritten" extents, and the first write into one converts it, so
// every fdatasync would still commit the journal (a second disk write and flush). Zeros
// written through the page cache make the blocks real: only the fdatasync that follows a
// new chunk (once per MiB of log) carries metadata. Recovery reads the zeros as a clean
// end of the log.
constexpr uint64_t kZeroChunk = 1 << 20;
constexpr char kZeros[64 << 10] = {};

uint64_t padded(uint64_t n) {
    return (n + 7) & ~uint64_t{7};
}

uint32_t load_u32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // little-endian host assumed (x86-64, arm64): the files never move hosts
}

std::string name_for(const char* prefix, uint64_t seq, const char* suffix) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%016llx%s", prefix, static_cast<unsigned long long>(seq),
                  suffix);
    return buf;
}

// Files named <prefix><16 hex digits><suffix>, sorted by number.
std::vector<std::pair<uint64_t, std::string>> list_files(const std::string& dir,
                                                         std::string_view prefix,
                                                         std::string_view suffix) {
    std::vector<std::pair<uint64_t, std::string>> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n.size() != prefix.size() + 16 + suffix.size() || !n.starts_with(prefix) ||
            !n.ends_with(suffix)) {
            continue;
        }
        std::string hex(n.substr(prefix.size(), 16));
        char* end = nullptr;
        uint64_t v = std::strtoull(hex.c_str(), &end, 16);
        if (end != hex.c_str() + 16) {
            continue;
        }
        out.emplace_back(v, std::string(n));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

bool all_zero(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

Status fsync_dir(const std::string& dir) {
    auto fd = GANTRY_TRY(Fd::open(dir, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) < 0) {
        return fail(Error::sys("fsync '{}'", dir));
    }
    return ok();
}

}  // namespace

// Scans a segment. `f` gets each valid payload and returns false if it cannot decode it
// (a record with a good CRC that makes no sense is corruption, not a torn write).
SegmentScan scan_segment(std::string_view data, const std::function<bool(std::string_view)>& f) {
    SegmentScan s;
    uint64_t off = 0;
    uint32_t crc = 0;
    while (off < data.size()) {
        std::string_view rest = data.substr(off);
        std::string why;
        bool torn = false;
        if (all_zero(rest)) {
            // The preallocated, never written part of the segment: a clean end.
            break;
        } else if (rest.size() < kHeaderBytes) {
            why = "truncated header";
            torn = true;
        } else {
            uint32_t len = load_u32(rest.data());
            uint32_t want = load_u32(rest.data() + 4);
            if (len == 0 || len > kMaxRecord) {
                // Headers are 8-aligned, so a torn write cannot leave half a length: a bad
                // length followed by data is corruption.
                why = fmt::format("bad record length {}", len);
            } else if (kHeaderBytes + len > rest.size()) {
                // The record runs past the end of the file: the last write was cut short.
                // (A flipped length bit can look the same; the file is copied aside first.)
                why = "record cut short";
                torn = true;
            } else {
                std::string_view payload = rest.substr(kHeaderBytes, len);
                uint32_t got = crc32c(crc, payload);
                uint64_t extent = kHeaderBytes + padded(len);
                if (got != want) {
                    why = fmt::format("crc mismatch (want {:08x}, got {:08x})", want, got);
                    // Torn only if this is the last record: a torn payload ends the file.
                    torn = extent >= rest.size() || all_zero(rest.substr(extent));
                } else if (!f(payload)) {
                    why = "undecodable record";
                } else {
                    crc = got;
                    off += extent;
                    s.valid_bytes = off;
                    s.last_crc = crc;
                    if (off > data.size()) {
                        // Only the zero padding is missing: keep the record, re-pad.
                        s.clean = false;
                        s.torn = true;
                    }
                    continue;
                }
            }
        }
        s.clean = false;
        if (torn) {
            s.torn = true;
        } else {
            s.error = fmt::format("offset {}: {}", off, why);
        }
        break;
    }
    return s;
}

Wal::Wal(std::string dir, Store& store, WalOptions options)
    : dir_(std::move(dir)), store_(store), options_(options) {}

// Records not yet synced were never acknowledged; syncing them anyway on the way out
// makes a clean shutdown lose nothing.
Wal::~Wal() {
    if (fd_) {
        sync();
    }
}

Result<std::unique_ptr<Wal>> Wal::open(const std::string& dir, Store& store, WalOptions options,
                                       RecoveryReport* report) {
    std::unique_ptr<Wal> w(new Wal(dir, store, options));
    RecoveryReport local;
    GANTRY_TRY_CTX(w->recover(report ? *report : local), "wal {}", dir);
    w->durable_seq_ = w->last_seq_;
    store.set_listener(w.get());
    return w;
}

Status Wal::recover(RecoveryReport& report) {
    if (::mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) {
        return fail(Error::sys("mkdir '{}'", dir_));
    }
    auto now = Clock::now();
    auto snaps = list_files(dir_, "snap-", ".snap");
    if (!snaps.empty()) {
        auto [seq, name] = snaps.back();
        std::string path = dir_ + "/" + name;
        auto data = GANTRY_TRY(read_file(path));
        // Snapshots are written atomically, so a bad one is real corruption.
        if (data.size() < 4 ||
            crc32c(0, std::string_view(data).substr(0, data.size() - 4)) !=
                load_u32(data.data() + data.size() - 4) ||
            !store_.decode_snapshot(std::string_view(data).substr(0, data.size() - 4), now)) {
            return fail(
                Error::msg("snapshot '{}' is corrupt; restore it from a backup or "
                           "remove the data directory",
                           path));
        }
        report.snapshot_seq = seq;
        last_seq_ = seq;
    }
    auto segments = list_files(dir_, "wal-", ".log");
    for (size_t i = 0; i < segments.size(); ++i) {
        auto [first, name] = segments[i];
        std::string path = dir_ + "/" + name;
        auto data = GANTRY_TRY(read_file(path));
        uint64_t expect = first;
        std::string apply_error;
        auto scan = scan_segment(data, [&](std::string_view payload) {
            Decoder d(payload);
            auto type = d.u8();
            uint64_t seq = d.varint();
            if (!d.ok() || seq != expect) {
                return false;
            }
            ++expect;
            if (seq <= last_seq_) {
                return true;  // already in the snapshot
            }
            switch (type) {
                case kCommit: {
                    Commit c;
                    c.revision = d.i64();
                    uint64_t n = d.varint();
                    for (uint64_t k = 0; k < n && d.ok(); ++k) {
                        Event ev;
                        ev.type = d.u8() == 1 ? EventType::kDelete : EventType::kPut;
                        ev.kv.key = d.bytes();
                        if (ev.type == EventType::kPut) {
                            ev.kv.value = d.bytes();
                            ev.kv.lease = d.i64();
                        }
                        c.events.push_back(std::move(ev));
                    }
                    if (!d.ok() || !d.done()) {
                        return false;
                    }
                    store_.replay_commit(c);
                    break;
                }
                case kLeaseGrant: {
                    int64_t id = d.i64();
                    int64_t ttl = d.i64();
                    if (!d.ok()) {
                        return false;
                    }
                    store_.replay_lease_grant(id, ttl, now);
                    break;
                }
                case kLeaseRevoke:
                    store_.replay_lease_revoke(d.i64());
                    break;
                case kCompact:
                    store_.replay_compact(d.i64());
                    break;
                default:
                    return false;
            }
            last_seq_ = seq;
            ++report.records;
            return d.ok();
        });
        bool last = i + 1 == segments.size();
        if (!scan.error.empty() || (scan.torn && !last)) {
            return fail(
                Error::msg("{}: corrupt record at {}; refusing to start. The records "
                           "before it are intact: to give up everything after it, "
                           "truncate the file at offset {} (keep a copy)",
                           path, scan.error.empty() ? "the end" : scan.error, scan.valid_bytes));
        }
        if (scan.torn) {
            report.torn_tail = true;
            if (!all_zero(std::string_view(data).substr(
                    std::min<uint64_t>(scan.valid_bytes, data.size())))) {
                report.broken_copy =
                    fmt::format("{}.broken-{}", path, static_cast<long long>(::time(nullptr)));
                GANTRY_TRY(write_file_atomic(report.broken_copy, data, 0600));
            }
            if (::truncate(path.c_str(), static_cast<off_t>(scan.valid_bytes)) < 0) {
                return fail(Error::sys("truncate '{}'", path));
            }
        }
        if (last) {
            segment_path_ = path;
            segment_bytes_ = scan.valid_bytes;
            chain_crc_ = scan.last_crc;
            // Records continue the last segment's numbering.
            last_seq_ = std::max(last_seq_, expect - 1);
        }
    }
    report.last_seq = last_seq_;
    if (segment_path_.empty()) {
        return open_segment(last_seq_ + 1);
    }
    auto fd = GANTRY_TRY(Fd::open(segment_path_, O_WRONLY));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) {
        return fail(Error::sys("stat '{}'", segment_path_));
    }
    // Everything up to the size is real blocks (zeros or records), unless an older version
    // preallocated it with fallocate; then appends are correct, just slower.
    zeroed_bytes_ = static_cast<uint64_t>(st.st_size);
    // sync() writes records into these blocks with RWF_DSYNC, which syncs only the
    // records' range: the zeros around them must already be on disk (a process killed
    // before its fdatasync leaves them in the page cache only).
    if (options_.sync && ::fdatasync(fd.get()) < 0) {
        return fail(Error::sys("fdatasync '{}'", segment_path_));
    }
    fd_ = std::move(fd);
    return ok();
}

Status Wal::open_segment(uint64_t first_seq) {
    std::string path = dir_ + "/" + name_for("wal-", first_seq, ".log");
    auto fd = GANTRY_TRY(Fd::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
    if (options_.sync && ::fsync(fd.get()) < 0) {
        return fail(Error::sys("fsync '{}'", path));
    }
    GANTRY_TRY(fsync_dir(dir_));
    fd_ = std::move(fd);
    segment_path_ = path;
    segment_bytes_ = 0;
    zeroed_bytes_ = 0;
    chain_crc_ = 0;
    return ok();
}

void Wal::append(std::string payload) {
    uint32_t len = static_cast<uint32_t>(payload.size());
    chain_crc_ = crc32c(chain_crc_, payload);
    char header[8];
    std::memcpy(header, &len, 4);
    std::memcpy(header + 4, &chain_crc_, 4);
    // Records wait in memory until sync() writes the whole round in one system call.
    pending_.append(header, 8);
    pending_.append(payload);
    pending_.resize(pending_.size() + (padded(len) - len), '\0');
    segment_bytes_ += kHeaderBytes + padded(len);
}

// Writes the pending records at the end of the log, through the page cache.
void Wal::write_pending() {
    if (pending_.empty()) {
        return;
    }
    uint64_t start = segment_bytes_ - pending_.size();
    extend_zeroed();
    write_at(pending_, start);
    pending_.clear();
    written_unsynced_ = true;
}

// Zero-fills the segment in whole chunks up to at least the end of the records.
bool Wal::extend_zeroed() {
    bool extended = false;
    while (zeroed_bytes_ < segment_bytes_) {
        uint64_t chunk_end = zeroed_bytes_ + kZeroChunk;
        for (uint64_t off = zeroed_bytes_; off < chunk_end; off += sizeof kZeros) {
            write_at(std::string_view(kZeros, sizeof kZeros), off);
        }
        zeroed_bytes_ = chunk_end;
        extended = true;
    }
    return extended;
}

void Wal::write_at(std::string_view data, uint64_t offset) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                             static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            // A failed write leaves the log in an unknown state: stopping is the only safe
            // answer, and the supervisor restarts us into recovery.
            log::error("wal append failed; stopping",
                       {{"file", segment_path_}, {"error", std::strerror(errno)}});
            std::abort();
        }
        done += static_cast<size_t>(n);
    }
}

void Wal::on_commit(const Commit& commit) {
    Encoder e;
    e.u8(kCommit);
    e.varint(++last_seq_);
    e.i64(commit.revision);
    e.varint(commit.events.size());
    for (const Event& ev : commit.events) {
        e.u8(ev.type == EventType::kDelete ? 1 : 0);
        e.bytes(ev.kv.key);
        if (ev.type == EventType::kPut) {
            e.bytes(ev.kv.value);
            e.i64(ev.kv.lease);
        }
    }
    append(std::move(e.str()));
}

void Wal::on_lease_grant(int64_t id, int64_t ttl) {
    Encoder e;
    e.u8(kLeaseGrant);
    e.varint(++last_seq_);
    e.i64(id);
    e.i64(ttl);
    append(std::move(e.str()));
}

void Wal::on_lease_revoke(int64_t id) {
    Encoder e;
    e.u8(kLeaseRevoke);
    e.varint(++last_seq_);
    e.i64(id);
    append(std::move(e.str()));
}

void Wal::on_compact(int64_t revision) {
    Encoder e;
    e.u8(kCompact);
    e.varint(++last_seq_);
    e.i64(revision);
    append(std::move(e.str()));
}

void Wal::sync() {
    if (durable_seq_ >= last_seq_) {
        return;
    }
    uint64_t start = segment_bytes_ - pending_.size();
    if (!options_.sync) {
        write_pending();
    } else if (extend_zeroed() || written_unsynced_ || !dsync_write(start)) {
        // A new zero chunk (once per MiB of log) changes the file's size and blocks: one
        // fdatasync then covers the chunk and the records. Also when records already
        // went to the page cache without a sync (write_pending() before a snapshot that
        // then failed), and the fallback where RWF_DSYNC is not supported.
        write_at(pending_, start);
        pending_.clear();
        if (::fdatasync(fd_.get()) < 0) {
            // etcd panics here too: after a failed fsync the page cache state is unknown
            // (the "fsyncgate" lesson), so acknowledging anything more would be a lie.
            log::error("wal fdatasync failed; stopping",
                       {{"file", segment_path_}, {"error", std::strerror(errno)}});
            std::abort();
        }
        written_unsynced_ = false;
    }
    durable_seq_ = last_seq_;
}

// The common case: the records land in blocks that are already written (zeros) and
// synced, so one pwritev2(RWF_DSYNC) writes them and makes them durable (their data and
// a disk cache flush; no metadata changes) in one system call, instead of a pwrite per
// record and an fdatasync. False if the kernel does not support RWF_DSYNC.
bool Wal::dsync_write(uint64_t offset) {
    size_t done = 0;
    while (done < pending_.size()) {
        iovec v{pending_.data() + done, pending_.size() - done};
        ssize_t n = ::pwritev2(fd_.get(), &v, 1, static_cast<off_t>(offset + done), RWF_DSYNC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && done == 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
            return false;
        }
        if (n <= 0) {
            log::error("wal write failed; stopping",
                       {{"file", segment_path_}, {"error", std::strerror(errno)}});
            std::abort();
        }
        done += static_cast<size_t>(n);
    }
    pending_.clear();
    return true;
}

Status Wal::maybe_snapshot() {
    if (segment_bytes_ < options_.snapshot_bytes) {
        return ok();
    }
    return snapshot();
}

Status Wal::snapshot() {
    // 0. The old segment gets its pending records: if the snapshot fails, they are still
    //    in the log for the next sync.
    write_pending();
    // 1. The snapshot covers every record up to last_seq_, durable or not: once it is on
    //    disk (write_file_atomic syncs file and directory) they are all durable.
    std::string data = store_.encode_snapshot();
    uint32_t crc = crc32c(0, data);
    data.append(reinterpret_cast<const char*>(&crc), 4);
    uint64_t seq = last_seq_;
    std::string snap = dir_ + "/" + name_for("snap-", seq, ".snap");
    GANTRY_TRY(write_file_atomic(snap, data, 0600));
    // 2. New records go to a fresh segment.
    GANTRY_TRY(open_segment(seq + 1));
    durable_seq_ = std::max(durable_seq_, seq);
    // 3. Older segments and snapshots are now redundant.
    for (const auto& [s, name] : list_files(dir_, "wal-", ".log")) {
        if (s <= seq) {
            ::unlink((dir_ + "/" + name).c_str());
        }
    }
    for (const auto& [s, name] : list_files(dir_, "snap-", ".snap")) {
        if (s < seq) {
            ::unlink((dir_ + "/" + name).c_str());
        }
    }
    return ok();
}

}  // namespace gantry::kv
