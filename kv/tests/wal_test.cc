#include "kv/wal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <vector>

namespace gantry::kv {
namespace {

namespace fs = std::filesystem;

// These tests check recovery logic on files, not that the disk keeps what it acknowledged
// (the crash test in kv_server_test does that): fdatasync would only make them slow.
WalOptions fast() {
    WalOptions o;
    o.sync = false;
    return o;
}

class WalTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/kv-wal-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Writes `n` puts (plus a lease and a compaction) and returns the store's snapshot.
    std::string write_some(int n, WalOptions opt = fast()) {
        Store s;
        auto w = Wal::open(dir_, s, opt);
        EXPECT_TRUE(w) << w.error().str();
        EXPECT_TRUE(s.lease_grant(77, 100, Clock::now()));
        for (int i = 0; i < n; ++i) {
            PutRequest p;
            p.key = "key" + std::to_string(i % 7);
            p.value = std::string(static_cast<size_t>(i % 13), 'v');
            p.lease = i % 5 == 0 ? 77 : 0;
            EXPECT_TRUE(s.put(p));
            EXPECT_TRUE((*w)->maybe_snapshot());
        }
        EXPECT_TRUE(s.compact(s.revision() - 2));
        (*w)->flush();
        EXPECT_EQ((*w)->durable_seq(), (*w)->last_seq());
        return s.encode_snapshot();
    }

    std::string segment() {
        for (const auto& e : fs::directory_iterator(dir_)) {
            if (e.path().extension() == ".log") {
                return e.path();
            }
        }
        return "";
    }

    std::string dir_;
};

TEST_F(WalTest, ReplayRestoresTheSameState) {
    std::string want = write_some(50);
    Store s;
    RecoveryReport rep;
    auto w = Wal::open(dir_, s, fast(), &rep);
    ASSERT_TRUE(w) << w.error().str();
    EXPECT_EQ(s.encode_snapshot(), want);
    EXPECT_EQ(rep.records, 52u);  // grant + 50 puts + compact
    EXPECT_FALSE(rep.torn_tail);
    // The lease survived with its keys.
    EXPECT_EQ(s.lease_time_to_live(77, true, Clock::now()).granted_ttl, 100);
    // Appending continues the chain: a second restart still reads everything.
    ASSERT_TRUE(s.put(PutRequest{"after", "x"}));
    (*w)->flush();
    w->reset();
    Store s2;
    auto w2 = Wal::open(dir_, s2, fast());
    ASSERT_TRUE(w2) << w2.error().str();
    EXPECT_EQ(s2.encode_snapshot(), s.encode_snapshot());
}

TEST_F(WalTest, TornTailKeepsTheValidPrefix) {
    write_some(20);
    std::string seg = segment();
    auto file = read_file(seg);
    ASSERT_TRUE(file);
    // The segment is preallocated: only its written prefix matters here.
    auto used = scan_segment(*file, [](std::string_view) { return true; }).valid_bytes;
    auto full = std::optional<std::string>(file->substr(0, used));
    // Cut the file at every offset inside the last 3 records: recovery must keep exactly
    // the records that are whole, and never fail.
    Store ref;
    uint64_t prev_records = 0;
    for (size_t cut = full->size() - 1; cut > full->size() - 120; --cut) {
        ASSERT_TRUE(write_file_atomic(seg, full->substr(0, cut)));
        Store s;
        RecoveryReport rep;
        auto w = Wal::open(dir_, s, fast(), &rep);
        ASSERT_TRUE(w) << "cut at " << cut << ": " << w.error().str();
        EXPECT_TRUE(rep.torn_tail || cut % 8 == 0) << cut;
        if (prev_records != 0) {
            EXPECT_LE(rep.records, prev_records);
        }
        prev_records = rep.records;
        EXPECT_LT(rep.records, 24u);
        if (!rep.broken_copy.empty()) {
            EXPECT_TRUE(fs::exists(rep.broken_copy));
            fs::remove(rep.broken_copy);
        }
        w->reset();
        EXPECT_EQ(fs::file_size(seg) % 8, 0u);
    }
}

TEST_F(WalTest, ZeroFilledTailIsATornWrite) {
    std::string want = write_some(10);
    std::string seg = segment();
    auto full = read_file(seg);
    ASSERT_TRUE(write_file_atomic(seg, *full + std::string(4096, '\0')));
    Store s;
    RecoveryReport rep;
    auto w = Wal::open(dir_, s, fast(), &rep);
    ASSERT_TRUE(w) << w.error().str();
    EXPECT_FALSE(rep.torn_tail);  // zeros are the unwritten, preallocated tail
    EXPECT_EQ(s.encode_snapshot(), want);
}

TEST_F(WalTest, BitFlipMidFileIsRefused) {
    write_some(20);
    std::string seg = segment();
    auto full = read_file(seg);
    auto used = scan_segment(*full, [](std::string_view) { return true; }).valid_bytes;
    for (size_t pos : {size_t{3}, size_t{12}, used / 2}) {
        std::string bad = *full;
        bad[pos] ^= 0x10;
        ASSERT_TRUE(write_file_atomic(seg, bad));
        Store s;
        auto w = Wal::open(dir_, s, fast());
        ASSERT_FALSE(w) << "flip at " << pos;
        EXPECT_NE(w.error().str().find("corrupt record"), std::string::npos) << w.error().str();
        // Nothing was changed on disk.
        EXPECT_EQ(*read_file(seg), bad);
    }
}

TEST_F(WalTest, SnapshotTruncatesTheLog) {
    WalOptions opt = fast();
    opt.snapshot_bytes = 2048;
    std::string want = write_some(300, opt);
    int logs = 0, snaps = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
        logs += e.path().extension() == ".log";
        snaps += e.path().extension() == ".snap";
    }
    EXPECT_EQ(logs, 1);
    EXPECT_EQ(snaps, 1);
    Store s;
    RecoveryReport rep;
    auto w = Wal::open(dir_, s, opt, &rep);
    ASSERT_TRUE(w) << w.error().str();
    EXPECT_GT(rep.snapshot_seq, 0u);
    EXPECT_EQ(s.encode_snapshot(), want);
}

TEST_F(WalTest, CorruptSnapshotIsRefused) {
    WalOptions opt = fast();
    opt.snapshot_bytes = 1024;
    write_some(100, opt);
    for (const auto& e : fs::directory_iterator(dir_)) {
        if (e.path().extension() == ".snap") {
            auto d = read_file(e.path());
            (*d)[d->size() / 2] ^= 1;
            ASSERT_TRUE(write_file_atomic(e.path(), *d));
        }
    }
    Store s;
    auto w = Wal::open(dir_, s, fast());
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().str().find("corrupt"), std::string::npos);
}

// Segments are preallocated with zeros, so the end of the log is found by the records, not
// by the file size. A write cut short in that space leaves a record prefix followed by
// zeros: at every cut inside the last records, recovery keeps exactly the whole records,
// copies the file aside, and the log takes new records that survive the next restart.
TEST_F(WalTest, TornRecordFollowedByZerosIsATornTail) {
    write_some(20);
    std::string seg = segment();
    auto full = read_file(seg);
    ASSERT_TRUE(full);
    // Per record: {end of its last non-zero byte, end of its padding}. A cut after the
    // first leaves the record as it was (a payload can end in zero bytes).
    std::vector<std::pair<uint64_t, uint64_t>> records;
    uint64_t used = 0;
    scan_segment(*full, [&](std::string_view p) {
        uint64_t last = used + 8 + p.size();
        while (last > used && (*full)[last - 1] == 0) {
            --last;
        }
        records.emplace_back(last, used + 8 + ((p.size() + 7) & ~size_t{7}));
        used = records.back().second;
        return true;
    });
    ASSERT_EQ(records.size(), 22u);  // grant + 20 puts + compaction
    ASSERT_GT(full->size(), used + 4096) << "the segment should be preallocated";
    for (uint64_t cut = used - 1; cut > used - 120; cut -= 3) {
        std::string torn = *full;
        std::fill(torn.begin() + static_cast<std::ptrdiff_t>(cut),
                  torn.begin() + static_cast<std::ptrdiff_t>(used), '\0');
        // What must survive: the records the cut leaves as they were.
        uint64_t keep = 0, valid = 0;
        while (keep < records.size() && records[keep].first <= cut) {
            valid = records[keep++].second;
        }
        bool torn_bytes = std::any_of(torn.begin() + static_cast<std::ptrdiff_t>(valid),
                                      torn.begin() + static_cast<std::ptrdiff_t>(used),
                                      [](char c) { return c != 0; });
        ASSERT_TRUE(write_file_atomic(seg, torn));
        Store s;
        RecoveryReport rep;
        auto w = Wal::open(dir_, s, fast(), &rep);
        ASSERT_TRUE(w) << "cut at " << cut << ": " << w.error().str();
        EXPECT_EQ(rep.records, keep) << cut;
        // Zeros right after a whole record are a clean end; a record prefix before the
        // zeros is a torn tail, and the file is copied aside with those bytes first.
        EXPECT_EQ(rep.torn_tail, torn_bytes) << cut;
        EXPECT_EQ(rep.broken_copy.empty(), !torn_bytes) << cut;
        if (!rep.broken_copy.empty()) {
            EXPECT_EQ(*read_file(rep.broken_copy), torn);
            fs::remove(rep.broken_copy);
        }
        ASSERT_TRUE(s.put(PutRequest{"after-" + std::to_string(cut), "x"}));
        (*w)->flush();
        std::string want = s.encode_snapshot();
        w->reset();
        Store again;
        RecoveryReport rep2;
        auto w2 = Wal::open(dir_, again, fast(), &rep2);
        ASSERT_TRUE(w2) << "after cut at " << cut << ": " << w2.error().str();
        EXPECT_FALSE(rep2.torn_tail) << cut;
        EXPECT_EQ(again.encode_snapshot(), want) << cut;
        EXPECT_EQ(rep2.records, keep + 1) << cut;
        w2->reset();
    }
}

// Non-zero bytes that are not a valid record, with anything but zeros after them, are
// corruption, not a torn write: recovery refuses and leaves the file as it was. Cases:
// garbage over a record in the middle (valid records follow), and garbage in the zeroed
// space after the last record followed by a valid-looking record.
TEST_F(WalTest, GarbageFollowedByARecordIsRefused) {
    write_some(20);
    std::string seg = segment();
    auto full = read_file(seg);
    ASSERT_TRUE(full);
    std::vector<uint64_t> ends;  // record boundaries
    uint64_t at = 0;
    scan_segment(*full, [&](std::string_view p) {
        at += 8 + ((p.size() + 7) & ~size_t{7});
        ends.push_back(at);
        return true;
    });
    ASSERT_GT(ends.size(), 10u);
    uint64_t used = ends.back();
    uint64_t mid = ends[ends.size() / 2];
    uint64_t last_start = ends[ends.size() - 2];

    std::string over_mid = *full;
    std::fill_n(over_mid.begin() + static_cast<std::ptrdiff_t>(mid), 16, '\xa5');
    std::string after_end = *full;
    std::fill_n(after_end.begin() + static_cast<std::ptrdiff_t>(used), 16, '\xa5');
    after_end.replace(used + 64, used - last_start, full->substr(last_start, used - last_start));
    for (const std::string* bad : {&over_mid, &after_end}) {
        ASSERT_TRUE(write_file_atomic(seg, *bad));
        Store s;
        auto w = Wal::open(dir_, s, fast());
        ASSERT_FALSE(w) << (bad == &over_mid ? "garbage mid-file" : "garbage after the end");
        EXPECT_NE(w.error().str().find("corrupt record"), std::string::npos) << w.error().str();
        EXPECT_EQ(*read_file(seg), *bad);
    }
}

}  // namespace
}  // namespace gantry::kv

namespace gantry::kv {
namespace {

// The server's path, with real syncs: records written with pwritev2(RWF_DSYNC) into
// zero-filled chunks, new chunks (and a new file size) taken with a full fdatasync, syncs
// every few records, two restarts in between. 2.5 MiB of values cross two chunk
// boundaries; what was synced must all come back, in order.
TEST(WalSync, AppendsAcrossZeroChunksSurviveRestarts) {
    char tmpl[] = "/tmp/kv-wal-sync-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    std::string want = Store().encode_snapshot();
    int n = 0;
    for (int restart = 0; restart < 3; ++restart) {
        Store s;
        auto w = Wal::open(dir, s, WalOptions{});
        ASSERT_TRUE(w) << w.error().str();
        EXPECT_EQ(s.encode_snapshot(), want) << "restart " << restart;
        for (int i = 0; i < 40; ++i, ++n) {
            ASSERT_TRUE(
                s.put(PutRequest{"k" + std::to_string(n % 9),
                                 std::string(20000 + static_cast<size_t>(n), 'a' + n % 26)}));
            if (i % 3 == 2) {
                (*w)->sync();
                EXPECT_EQ((*w)->durable_seq(), (*w)->last_seq());
            }
        }
        (*w)->sync();
        want = s.encode_snapshot();
    }
    Store s;
    auto w = Wal::open(dir, s, WalOptions{});
    ASSERT_TRUE(w) << w.error().str();
    EXPECT_EQ(s.encode_snapshot(), want);
    EXPECT_EQ(s.revision(), 1 + n);
    w->reset();
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gantry::kv
