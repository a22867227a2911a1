// Leases and snapshots of the store. Lease deadlines are not persisted: like etcd, a
// restarted server gives every lease its full TTL again (lessor.Promote), so a lease never
// expires early because the server was down.
#include <algorithm>
#include <utility>

#include "kv/codec.h"
#include "kv/store.h"

namespace gantry::kv {

namespace {

constexpr std::string_view kSnapshotMagic = "GKVSNAP1";

int64_t next_lease_id(int64_t seed) {
    // Like etcd's request-id generator: a time-derived prefix plus a counter; positive.
    static int64_t counter = 0;
    return ((seed << 16) + ++counter) & 0x3fffffffffffffff;
}

}  // namespace

void Store::attach(const std::string& key, int64_t old_lease, int64_t new_lease) {
    if (old_lease != 0) {
        if (auto it = leases_.find(old_lease); it != leases_.end()) {
            it->second.keys.erase(key);
        }
    }
    if (new_lease != 0) {
        if (auto it = leases_.find(new_lease); it != leases_.end()) {
            it->second.keys.insert(key);
        }
    }
}

ApiResult<LeaseGrantResponse> Store::lease_grant(int64_t id, int64_t ttl, Clock::time_point now) {
    if (ttl > kMaxLeaseTtl) {
        return api_error(Code::kOutOfRange, errors::kLeaseTTLTooLarge);
    }
    if (id == 0) {
        auto seed = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
        do {
            id = next_lease_id(seed);
        } while (id == 0 || leases_.contains(id));
    } else if (leases_.contains(id)) {
        return api_error(Code::kFailedPrecondition, errors::kLeaseExist);
    }
    ttl = std::max(ttl, kMinLeaseTtl);
    replay_lease_grant(id, ttl, now);
    if (listener_ != nullptr) {
        listener_->on_lease_grant(id, ttl);
    }
    return LeaseGrantResponse{ResponseHeader{revision_}, id, ttl};
}

void Store::replay_lease_grant(int64_t id, int64_t ttl, Clock::time_point now) {
    Lease& l = leases_[id];
    l.ttl = ttl;
    l.deadline = now + std::chrono::seconds(ttl);
}

ApiResult<LeaseRevokeResponse> Store::lease_revoke(int64_t id) {
    if (!leases_.contains(id)) {
        return api_error(Code::kNotFound, errors::kLeaseNotFound);
    }
    revoke_locked(id);
    return LeaseRevokeResponse{ResponseHeader{revision_}};
}

void Store::replay_lease_revoke(int64_t id) {
    leases_.erase(id);
}

LeaseKeepAliveResponse Store::lease_keepalive(int64_t id, Clock::time_point now) {
    LeaseKeepAliveResponse resp{ResponseHeader{revision_}, id, 0};
    if (auto it = leases_.find(id); it != leases_.end()) {
        it->second.deadline = now + std::chrono::seconds(it->second.ttl);
        resp.ttl = it->second.ttl;
    }
    return resp;
}

LeaseTimeToLiveResponse Store::lease_time_to_live(int64_t id, bool keys,
                                                  Clock::time_point now) const {
    LeaseTimeToLiveResponse resp;
    resp.header.revision = revision_;
    resp.id = id;
    auto it = leases_.find(id);
    if (it == leases_.end()) {
        return resp;
    }
    auto left = std::chrono::duration_cast<std::chrono::seconds>(it->second.deadline - now);
    resp.ttl = std::max<int64_t>(left.count(), 0);
    resp.granted_ttl = it->second.ttl;
    if (keys) {
        resp.keys.assign(it->second.keys.begin(), it->second.keys.end());
    }
    return resp;
}

LeaseLeasesResponse Store::lease_leases() const {
    LeaseLeasesResponse resp;
    resp.header.revision = revision_;
    for (const auto& [id, l] : leases_) {
        resp.ids.push_back(id);
    }
    return resp;
}

std::vector<int64_t> Store::expire_leases(Clock::time_point now) {
    std::vector<int64_t> expired;
    for (const auto& [id, l] : leases_) {
        if (l.deadline <= now) {
            expired.push_back(id);
        }
    }
    for (int64_t id : expired) {
        revoke_locked(id);
    }
    return expired;
}

Clock::time_point Store::next_lease_deadline() const {
    auto t = Clock::time_point::max();
    for (const auto& [id, l] : leases_) {
        t = std::min(t, l.deadline);
    }
    return t;
}

std::string Store::encode_snapshot() const {
    Encoder e;
    e.str().append(kSnapshotMagic);
    e.i64(revision_);
    e.i64(compact_revision_);
    e.varint(index_.size());
    for (const auto& [key, h] : index_) {
        e.bytes(key);
        e.varint(h.size());
        for (const Version& v : h) {
            e.i64(v.mod_revision);
            e.i64(v.create_revision);
            e.i64(v.version);
            e.i64(v.lease);
            e.i64(v.sub);
            e.bytes(v.value());
        }
    }
    e.varint(leases_.size());
    for (const auto& [id, l] : leases_) {
        e.i64(id);
        e.i64(l.ttl);
    }
    return std::move(e.str());
}

bool Store::decode_snapshot(std::string_view data, Clock::time_point now) {
    if (!data.starts_with(kSnapshotMagic)) {
        return false;
    }
    Decoder d(data.substr(kSnapshotMagic.size()));
    index_.clear();
    leases_.clear();
    revision_ = d.i64();
    compact_revision_ = d.i64();
    uint64_t nkeys = d.varint();
    for (uint64_t i = 0; i < nkeys && d.ok(); ++i) {
        std::string key = d.bytes();
        uint64_t nv = d.varint();
        History h;
        for (uint64_t j = 0; j < nv && d.ok(); ++j) {
            Version v;
            v.mod_revision = d.i64();
            v.create_revision = d.i64();
            v.version = d.i64();
            v.lease = d.i64();
            v.sub = static_cast<int32_t>(d.i64());
            v.set_value(d.bytes());
            h.push_back(std::move(v));
        }
        index_.emplace(std::move(key), std::move(h));
    }
    uint64_t nleases = d.varint();
    for (uint64_t i = 0; i < nleases && d.ok(); ++i) {
        int64_t id = d.i64();
        int64_t ttl = d.i64();
        replay_lease_grant(id, ttl, now);
    }
    if (!d.ok() || !d.done()) {
        return false;
    }
    // Lease key sets are derived data: rebuild them from each key's live version.
    for (const auto& [key, h] : index_) {
        if (!h.empty() && h.back().version != 0 && h.back().lease != 0) {
            attach(key, 0, h.back().lease);
        }
    }
    return true;
}

}  // namespace gantry::kv
