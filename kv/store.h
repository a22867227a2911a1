// The MVCC store: every key's history since the last compaction, indexed by key.
//
// One store-wide revision per write transaction (etcd's main revision), a sub-revision
// per change inside it. Reads at a past revision walk each key's history. The store is
// single-threaded and knows nothing of files or sockets: durability and watchers hang off
// the StoreListener, which sees every mutation in order, so the same code serves the
// server, the WAL replay and the model tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kv/types.h"

namespace gantry::kv {

using Clock = std::chrono::steady_clock;

// Sees every mutation after it is applied in memory, in order. A mutation is not
// acknowledged to a client until the listener (the WAL) has made it durable.
class StoreListener {
  public:
    virtual ~StoreListener() = default;
    virtual void on_commit(const Commit& commit) = 0;
    virtual void on_lease_grant(int64_t id, int64_t ttl) = 0;
    virtual void on_lease_revoke(int64_t id) = 0;
    virtual void on_compact(int64_t revision) = 0;
};

// etcd's limits (embed/config.go, lease/lessor.go).
inline constexpr size_t kMaxTxnOps = 128;
inline constexpr int64_t kMinLeaseTtl = 2;  // ceil(1.5 * election timeout) with defaults
inline constexpr int64_t kMaxLeaseTtl = 9'000'000'000;

class Store {
  public:
    Store() = default;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    void set_listener(StoreListener* listener) { listener_ = listener; }

    int64_t revision() const { return revision_; }
    int64_t compact_revision() const { return compact_revision_; }

    ApiResult<RangeResponse> range(const RangeRequest& req) const;
    ApiResult<PutResponse> put(const PutRequest& req);
    ApiResult<DeleteRangeResponse> delete_range(const DeleteRangeRequest& req);
    ApiResult<TxnResponse> txn(const TxnRequest& req);
    ApiResult<CompactionResponse> compact(int64_t revision);

    // Leases. `now` is a parameter so tests drive time.
    ApiResult<LeaseGrantResponse> lease_grant(int64_t id, int64_t ttl, Clock::time_point now);
    ApiResult<LeaseRevokeResponse> lease_revoke(int64_t id);
    LeaseKeepAliveResponse lease_keepalive(int64_t id, Clock::time_point now);
    LeaseTimeToLiveResponse lease_time_to_live(int64_t id, bool keys, Clock::time_point now) const;
    LeaseLeasesResponse lease_leases() const;
    // Revokes every lease whose deadline is at or before `now`; returns their ids.
    std::vector<int64_t> expire_leases(Clock::time_point now);
    // The earliest lease deadline, for the expiry timer; time_point::max() if none.
    Clock::time_point next_lease_deadline() const;

    // Events with revision >= from_rev and <= to_rev for keys in [key, range_end), in
    // revision order, for a watcher that starts in the past.
    std::vector<std::pair<int64_t, Event>> history(const std::string& key,
                                                   const std::string& range_end, int64_t from_rev,
                                                   int64_t to_rev) const;

    // Recovery: the same mutations the listener saw, applied without notifying it.
    void replay_commit(const Commit& commit);
    void replay_lease_grant(int64_t id, int64_t ttl, Clock::time_point now);
    void replay_lease_revoke(int64_t id);
    void replay_compact(int64_t revision);

    // Snapshot support: the whole state as a byte string and back (see kv/codec.h).
    std::string encode_snapshot() const;
    bool decode_snapshot(std::string_view data, Clock::time_point now);

    size_t key_count() const { return index_.size(); }

  private:
    // Every version of every key stays until compaction, so a version is kept small: its
    // value is one allocation of exactly its size (48 bytes in all, where a std::string
    // member alone takes 32).
    struct Version {
        int64_t mod_revision = 0;
        int64_t create_revision = 0;
        int64_t version = 0;  // 0 marks a tombstone (the key was deleted here)
        int64_t lease = 0;
        std::unique_ptr<char[]> bytes;
        uint32_t size = 0;
        int32_t sub = 0;

        std::string_view value() const { return {bytes.get(), size}; }
        void set_value(std::string_view v) {
            bytes.reset(v.empty() ? nullptr : new char[v.size()]);
            std::copy(v.begin(), v.end(), bytes.get());
            size = static_cast<uint32_t>(v.size());
        }
    };
    static_assert(sizeof(Version) == 48);
    using History = std::vector<Version>;
    struct Lease {
        int64_t ttl = 0;
        Clock::time_point deadline;
        std::set<std::string> keys;
    };
    class WriteTxn;
    friend class WriteTxn;

    // The newest version of a key at or before `rev`, or null if it did not exist then.
    static const Version* version_at(const History& h, int64_t rev);
    static KeyValue to_kv(const std::string& key, const Version& v);
    ApiResult<RangeResponse> range_at(const RangeRequest& req, int64_t current) const;
    template <typename F>
    void for_each_in_range(const std::string& key, const std::string& range_end, F&& f) const;
    bool compare(const Compare& c) const;
    void compare_path(const TxnRequest& req, std::vector<bool>& path) const;
    ApiResult<void> apply_txn(const TxnRequest& t, const std::vector<bool>& path, size_t& pos,
                              WriteTxn& w, TxnResponse& out);
    void apply_compact(int64_t revision);
    void attach(const std::string& key, int64_t old_lease, int64_t new_lease);
    // Deletes the lease and its keys in one revision; the caller notifies the listener.
    void revoke_locked(int64_t id);

    std::map<std::string, History, std::less<>> index_;
    std::map<int64_t, Lease> leases_;
    int64_t revision_ = 1;  // etcd starts at 1: the first write makes revision 2
    int64_t compact_revision_ = 0;
    StoreListener* listener_ = nullptr;
};

}  // namespace gantry::kv
