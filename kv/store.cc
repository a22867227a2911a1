#include "kv/store.h"

#include <algorithm>
#include <utility>

namespace gantry::kv {

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        auto& c = end.back();
        if (static_cast<unsigned char>(c) < 0xff) {
            c = static_cast<char>(static_cast<unsigned char>(c) + 1);
            return end;
        }
        end.pop_back();
    }
    // Every byte was 0xff: the range has no upper bound.
    return std::string(1, '\0');
}

// A write transaction in progress: every change gets the next revision and its own
// sub-revision. Versions are appended in place so later reads in the same transaction see
// them (etcd 3.4 semantics); abort() pops them again if the transaction fails half way.
class Store::WriteTxn {
  public:
    explicit WriteTxn(Store& s) : s_(s), rev_(s.revision_ + 1) {}
    ~WriteTxn() {
        if (!done_) {
            abort();
        }
    }

    // The revision a read inside the transaction reports (etcd: beginRev, +1 once changed).
    int64_t read_rev() const { return events_.empty() ? s_.revision_ : rev_; }
    // Revision that reads inside the transaction read at: includes this txn's own changes.
    int64_t view_rev() const { return rev_; }
    bool changed() const { return !events_.empty(); }

    void put(const std::string& key, std::string_view value, int64_t lease) {
        auto [it, inserted] = s_.index_.try_emplace(key);
        History& h = it->second;
        Event ev;
        ev.type = EventType::kPut;
        Version v;
        v.mod_revision = rev_;
        v.lease = lease;
        v.sub = static_cast<int32_t>(events_.size());
        v.set_value(value);
        if (!h.empty() && h.back().version != 0) {
            const Version& prev = h.back();
            ev.prev_kv = to_kv(key, prev);
            v.create_revision = prev.create_revision;
            v.version = prev.version + 1;
        } else {
            v.create_revision = rev_;
            v.version = 1;
        }
        ev.kv = to_kv(key, v);
        grow(h);
        h.push_back(std::move(v));
        touched_.push_back(key);
        events_.push_back(std::move(ev));
    }

    // Deletes one live key; returns false if it is not live.
    bool del(const std::string& key) {
        auto it = s_.index_.find(key);
        if (it == s_.index_.end() || it->second.empty() || it->second.back().version == 0) {
            return false;
        }
        History& h = it->second;
        Event ev;
        ev.type = EventType::kDelete;
        ev.prev_kv = to_kv(key, h.back());
        ev.kv.key = key;
        ev.kv.mod_revision = rev_;
        Version v;
        v.mod_revision = rev_;
        v.sub = static_cast<int32_t>(events_.size());
        grow(h);
        h.push_back(std::move(v));
        touched_.push_back(key);
        events_.push_back(std::move(ev));
        return true;
    }

    // Makes the changes the store's new revision and tells the listener.
    void finish() {
        done_ = true;
        if (events_.empty()) {
            return;
        }
        s_.revision_ = rev_;
        for (const Event& ev : events_) {
            int64_t old_lease = ev.prev_kv ? ev.prev_kv->lease : 0;
            s_.attach(ev.kv.key, old_lease, ev.kv.lease);
        }
        if (s_.listener_ != nullptr) {
            Commit c{rev_, std::move(events_)};
            s_.listener_->on_commit(c);
        }
    }

    void abort() {
        done_ = true;
        for (auto it = touched_.rbegin(); it != touched_.rend(); ++it) {
            auto idx = s_.index_.find(*it);
            idx->second.pop_back();
            if (idx->second.empty()) {
                s_.index_.erase(idx);
            }
        }
        touched_.clear();
        events_.clear();
    }

  private:
    // Histories grow by a quarter, not vector's doubling: most keys keep a handful of
    // versions, and half-empty vectors were a third of the store's memory.
    static void grow(History& h) {
        if (h.size() == h.capacity()) {
            h.reserve(h.size() + h.size() / 4 + 1);
        }
    }

    Store& s_;
    int64_t rev_;
    bool done_ = false;
    std::vector<std::string> touched_;
    std::vector<Event> events_;
};

const Store::Version* Store::version_at(const History& h, int64_t rev) {
    // Histories are short and reads are usually at the head: scan from the back.
    for (auto it = h.rbegin(); it != h.rend(); ++it) {
        if (it->mod_revision <= rev) {
            return it->version == 0 ? nullptr : &*it;
        }
    }
    return nullptr;
}

KeyValue Store::to_kv(const std::string& key, const Version& v) {
    return KeyValue{key,       v.create_revision,      v.mod_revision,
                    v.version, std::string(v.value()), v.lease};
}

template <typename F>
void Store::for_each_in_range(const std::string& key, const std::string& range_end, F&& f) const {
    if (range_end.empty()) {
        auto it = index_.find(key);
        if (it != index_.end()) {
            f(it->first, it->second);
        }
        return;
    }
    bool infinite = range_end_is_infinite(range_end);
    for (auto it = index_.lower_bound(key); it != index_.end(); ++it) {
        if (!infinite && it->first >= range_end) {
            break;
        }
        f(it->first, it->second);
    }
}

ApiResult<RangeResponse> Store::range(const RangeRequest& req) const {
    if (req.key.empty()) {
        return api_error(Code::kInvalidArgument, errors::kEmptyKey);
    }
    return range_at(req, revision_);
}

ApiResult<RangeResponse> Store::range_at(const RangeRequest& req, int64_t current) const {
    int64_t rev = req.revision;
    if (rev > current) {
        return api_error(Code::kOutOfRange, errors::kFutureRev);
    }
    if (rev <= 0) {
        rev = current;
    }
    if (rev < compact_revision_) {
        return api_error(Code::kOutOfRange, errors::kCompacted);
    }
    RangeResponse resp;
    resp.header.revision = current;
    bool filtered = req.min_mod_revision != 0 || req.max_mod_revision != 0 ||
                    req.min_create_revision != 0 || req.max_create_revision != 0;
    bool sorted = req.sort_order != SortOrder::kNone || req.sort_target != SortTarget::kKey;
    // Without sorting or filtering only limit+1 entries are needed (the +1 tells `more`).
    size_t want =
        (!filtered && !sorted && req.limit > 0) ? static_cast<size_t>(req.limit) + 1 : SIZE_MAX;
    int64_t count = 0;
    for_each_in_range(req.key, req.range_end, [&](const std::string& k, const History& h) {
        const Version* v = version_at(h, rev);
        if (v == nullptr) {
            return;
        }
        ++count;
        if (req.count_only || resp.kvs.size() >= want) {
            return;
        }
        resp.kvs.push_back(to_kv(k, *v));
    });
    resp.count = count;
    if (req.count_only) {
        return resp;
    }
    if (filtered) {
        std::erase_if(resp.kvs, [&](const KeyValue& kv) {
            return (req.max_mod_revision != 0 && kv.mod_revision > req.max_mod_revision) ||
                   (req.min_mod_revision != 0 && kv.mod_revision < req.min_mod_revision) ||
                   (req.max_create_revision != 0 && kv.create_revision > req.max_create_revision) ||
                   (req.min_create_revision != 0 && kv.create_revision < req.min_create_revision);
        });
    }
    SortOrder order = req.sort_order;
    if (req.sort_target != SortTarget::kKey && order == SortOrder::kNone) {
        order = SortOrder::kAscend;  // etcd sorts ascending by default for non-key targets
    }
    if (order == SortOrder::kAscend || order == SortOrder::kDescend) {
        auto less = [&](const KeyValue& a, const KeyValue& b) {
            switch (req.sort_target) {
                case SortTarget::kVersion:
                    return a.version < b.version;
                case SortTarget::kCreate:
                    return a.create_revision < b.create_revision;
                case SortTarget::kMod:
                    return a.mod_revision < b.mod_revision;
                case SortTarget::kValue:
                    return a.value < b.value;
                default:
                    return a.key < b.key;
            }
        };
        // Stable, like Go's insertion sort for small inputs: ties keep key order.
        if (order == SortOrder::kAscend) {
            std::stable_sort(resp.kvs.begin(), resp.kvs.end(), less);
        } else {
            std::stable_sort(resp.kvs.begin(), resp.kvs.end(),
                             [&](const KeyValue& a, const KeyValue& b) { return less(b, a); });
        }
    }
    if (req.limit > 0 && resp.kvs.size() > static_cast<size_t>(req.limit)) {
        resp.kvs.resize(static_cast<size_t>(req.limit));
        resp.more = true;
    }
    if (req.keys_only) {
        for (auto& kv : resp.kvs) {
            kv.value.clear();
        }
    }
    return resp;
}

namespace {

struct Interval {
    std::string key;
    std::string end;  // empty: a single key
    bool contains(const std::string& k) const {
        if (end.empty()) {
            return k == key;
        }
        // etcd's interval tree compares range_end literally here, so the "\0" (to the
        // end) range is an empty interval for this check; matching that is the point.
        return k >= key && k < end;
    }
};

ApiResult<void> check_op(const RequestOp& op, size_t max_ops);

ApiResult<void> check_txn(const TxnRequest& t, size_t max_ops) {
    if (t.compare.size() > max_ops || t.success.size() > max_ops || t.failure.size() > max_ops) {
        return api_error(Code::kInvalidArgument, errors::kTooManyOps);
    }
    for (const auto& c : t.compare) {
        if (c.key.empty()) {
            return api_error(Code::kInvalidArgument, errors::kEmptyKey);
        }
    }
    for (const auto& op : t.success) {
        if (auto r = check_op(op, max_ops - t.success.size()); !r) {
            return r;
        }
    }
    for (const auto& op : t.failure) {
        if (auto r = check_op(op, max_ops - t.failure.size()); !r) {
            return r;
        }
    }
    return {};
}

ApiResult<void> check_put(const PutRequest& p) {
    if (p.key.empty()) {
        return api_error(Code::kInvalidArgument, errors::kEmptyKey);
    }
    if (p.ignore_value && !p.value.empty()) {
        return api_error(Code::kInvalidArgument, errors::kValueProvided);
    }
    if (p.ignore_lease && p.lease != 0) {
        return api_error(Code::kInvalidArgument, errors::kLeaseProvided);
    }
    return {};
}

ApiResult<void> check_op(const RequestOp& op, size_t max_ops) {
    switch (op.kind) {
        case RequestOp::Kind::kRange:
            if (op.range.key.empty()) {
                return api_error(Code::kInvalidArgument, errors::kEmptyKey);
            }
            return {};
        case RequestOp::Kind::kPut:
            return check_put(op.put);
        case RequestOp::Kind::kDeleteRange:
            if (op.delete_range.key.empty()) {
                return api_error(Code::kInvalidArgument, errors::kEmptyKey);
            }
            return {};
        case RequestOp::Kind::kTxn:
            return check_txn(*op.txn, max_ops);
        case RequestOp::Kind::kNone:
            return {};
    }
    return {};
}

// etcd's checkIntervals (v3rpc/key.go): a key may be written once per transaction path;
// puts may repeat across a nested txn's success and failure branches, which exclude each
// other.
ApiResult<void> check_intervals(const std::vector<RequestOp>& ops, std::set<std::string>& puts,
                                std::vector<Interval>& dels) {
    auto dup = [] { return api_error(Code::kInvalidArgument, errors::kDuplicateKey); };
    auto deleted = [&](const std::string& k) {
        return std::any_of(dels.begin(), dels.end(),
                           [&](const Interval& i) { return i.contains(k); });
    };
    for (const auto& op : ops) {
        if (op.kind == RequestOp::Kind::kDeleteRange) {
            dels.push_back({op.delete_range.key, op.delete_range.range_end});
        }
    }
    for (const auto& op : ops) {
        if (op.kind != RequestOp::Kind::kTxn) {
            continue;
        }
        std::set<std::string> puts_then, puts_else;
        std::vector<Interval> dels_then, dels_else;
        if (auto r = check_intervals(op.txn->success, puts_then, dels_then); !r) {
            return r;
        }
        if (auto r = check_intervals(op.txn->failure, puts_else, dels_else); !r) {
            return r;
        }
        for (const auto& k : puts_then) {
            if (puts.contains(k) || deleted(k)) {
                return dup();
            }
            puts.insert(k);
        }
        for (const auto& k : puts_else) {
            if ((puts.contains(k) && !puts_then.contains(k)) || deleted(k)) {
                return dup();
            }
            puts.insert(k);
        }
        dels.insert(dels.end(), dels_then.begin(), dels_then.end());
        dels.insert(dels.end(), dels_else.begin(), dels_else.end());
    }
    for (const auto& op : ops) {
        if (op.kind != RequestOp::Kind::kPut) {
            continue;
        }
        if (puts.contains(op.put.key) || deleted(op.put.key)) {
            return dup();
        }
        puts.insert(op.put.key);
    }
    return {};
}

bool is_read_only(const std::vector<RequestOp>& ops) {
    for (const auto& op : ops) {
        if (op.kind == RequestOp::Kind::kPut || op.kind == RequestOp::Kind::kDeleteRange) {
            return false;
        }
        if (op.kind == RequestOp::Kind::kTxn &&
            (!is_read_only(op.txn->success) || !is_read_only(op.txn->failure))) {
            return false;
        }
    }
    return true;
}

template <typename T>
int cmp3(const T& a, const T& b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

bool Store::compare(const Compare& c) const {
    std::vector<KeyValue> kvs;
    for_each_in_range(c.key, c.range_end, [&](const std::string& k, const History& h) {
        if (const Version* v = version_at(h, revision_)) {
            kvs.push_back(to_kv(k, *v));
        }
    });
    auto one = [&](const KeyValue& kv) {
        int r = 0;
        switch (c.target) {
            case CompareTarget::kValue:
                r = cmp3(kv.value, c.value);
                break;
            case CompareTarget::kCreate:
                r = cmp3(kv.create_revision, c.number);
                break;
            case CompareTarget::kMod:
                r = cmp3(kv.mod_revision, c.number);
                break;
            case CompareTarget::kVersion:
                r = cmp3(kv.version, c.number);
                break;
            case CompareTarget::kLease:
                r = cmp3(kv.lease, c.number);
                break;
        }
        switch (c.result) {
            case CompareResult::kEqual:
                return r == 0;
            case CompareResult::kNotEqual:
                return r != 0;
            case CompareResult::kGreater:
                return r > 0;
            case CompareResult::kLess:
                return r < 0;
        }
        return true;
    };
    if (kvs.empty()) {
        // A missing key compares as the zero KeyValue, except that a value comparison
        // always fails: there is no way to express "no value" (etcd applyCompare).
        return c.target != CompareTarget::kValue && one(KeyValue{});
    }
    return std::all_of(kvs.begin(), kvs.end(), one);
}

// etcd evaluates every compare of every nested txn on the chosen path before applying any
// operation (compareToPath), so nested compares see the state at the start.
void Store::compare_path(const TxnRequest& req, std::vector<bool>& path) const {
    bool ok = std::all_of(req.compare.begin(), req.compare.end(),
                          [&](const Compare& c) { return compare(c); });
    path.push_back(ok);
    for (const auto& op : ok ? req.success : req.failure) {
        if (op.kind == RequestOp::Kind::kTxn) {
            compare_path(*op.txn, path);
        }
    }
}

ApiResult<TxnResponse> Store::txn(const TxnRequest& req) {
    if (auto r = check_txn(req, kMaxTxnOps); !r) {
        return Unexpected(r.error());
    }
    for (const auto* ops : {&req.success, &req.failure}) {
        std::set<std::string> puts;
        std::vector<Interval> dels;
        if (auto r = check_intervals(*ops, puts, dels); !r) {
            return Unexpected(r.error());
        }
    }
    std::vector<bool> path;
    compare_path(req, path);
    WriteTxn w(*this);
    size_t pos = 0;
    TxnResponse resp;
    if (auto r = apply_txn(req, path, pos, w, resp); !r) {
        return Unexpected(r.error());
    }
    w.finish();
    resp.header.revision = revision_;
    return resp;
}

ApiResult<void> Store::apply_txn(const TxnRequest& t, const std::vector<bool>& path, size_t& pos,
                                 WriteTxn& w, TxnResponse& out) {
    out.succeeded = path[pos++];
    for (const auto& op : out.succeeded ? t.success : t.failure) {
        ResponseOp r;
        r.kind = op.kind;
        switch (op.kind) {
            case RequestOp::Kind::kRange: {
                auto rr = range_at(op.range, w.read_rev());
                if (!rr) {
                    return Unexpected(rr.error());
                }
                r.range = std::move(*rr);
                break;
            }
            case RequestOp::Kind::kPut: {
                const PutRequest& p = op.put;
                if (p.lease != 0 && !leases_.contains(p.lease)) {
                    return api_error(Code::kNotFound, errors::kLeaseNotFound);
                }
                const Version* cur = nullptr;
                if (auto it = index_.find(p.key); it != index_.end()) {
                    cur = version_at(it->second, w.view_rev());
                }
                if ((p.ignore_value || p.ignore_lease) && cur == nullptr) {
                    return api_error(Code::kInvalidArgument, errors::kKeyNotFound);
                }
                if (p.prev_kv && cur != nullptr) {
                    r.put.prev_kv = to_kv(p.key, *cur);
                }
                // The view into cur's value stays valid while put() grows the history: the
                // bytes are the version's own allocation, which moves with it.
                std::string_view value = p.ignore_value ? cur->value() : p.value;
                int64_t lease = p.ignore_lease ? cur->lease : p.lease;
                w.put(p.key, value, lease);
                r.put.header.revision = w.read_rev();
                break;
            }
            case RequestOp::Kind::kDeleteRange: {
                const DeleteRangeRequest& d = op.delete_range;
                std::vector<std::string> keys;
                for_each_in_range(d.key, d.range_end, [&](const std::string& k, const History& h) {
                    if (const Version* v = version_at(h, w.view_rev())) {
                        keys.push_back(k);
                        if (d.prev_kv) {
                            r.delete_range.prev_kvs.push_back(to_kv(k, *v));
                        }
                    }
                });
                for (const auto& k : keys) {
                    w.del(k);
                }
                r.delete_range.deleted = static_cast<int64_t>(keys.size());
                r.delete_range.header.revision = w.read_rev();
                break;
            }
            case RequestOp::Kind::kTxn: {
                r.txn = std::make_shared<TxnResponse>();
                if (auto rr = apply_txn(*op.txn, path, pos, w, *r.txn); !rr) {
                    return rr;
                }
                break;
            }
            case RequestOp::Kind::kNone:
                break;
        }
        out.responses.push_back(std::move(r));
    }
    return {};
}

ApiResult<PutResponse> Store::put(const PutRequest& req) {
    TxnRequest t;
    RequestOp op;
    op.kind = RequestOp::Kind::kPut;
    op.put = req;
    t.success.push_back(std::move(op));
    auto r = txn(t);
    if (!r) {
        return Unexpected(r.error());
    }
    PutResponse resp = std::move(r->responses[0].put);
    resp.header.revision = r->header.revision;
    return resp;
}

ApiResult<DeleteRangeResponse> Store::delete_range(const DeleteRangeRequest& req) {
    TxnRequest t;
    RequestOp op;
    op.kind = RequestOp::Kind::kDeleteRange;
    op.delete_range = req;
    t.success.push_back(std::move(op));
    auto r = txn(t);
    if (!r) {
        return Unexpected(r.error());
    }
    DeleteRangeResponse resp = std::move(r->responses[0].delete_range);
    resp.header.revision = r->header.revision;
    return resp;
}

ApiResult<CompactionResponse> Store::compact(int64_t rev) {
    if (rev <= compact_revision_) {
        return api_error(Code::kOutOfRange, errors::kCompacted);
    }
    if (rev > revision_) {
        return api_error(Code::kOutOfRange, errors::kFutureRev);
    }
    apply_compact(rev);
    if (listener_ != nullptr) {
        listener_->on_compact(rev);
    }
    return CompactionResponse{ResponseHeader{revision_}};
}

void Store::apply_compact(int64_t rev) {
    for (auto it = index_.begin(); it != index_.end();) {
        History& h = it->second;
        // Keep the newest version at or before `rev` (reads at `rev` still work) unless it
        // is a tombstone, and everything after it.
        size_t keep = 0;
        for (size_t i = 0; i < h.size() && h[i].mod_revision <= rev; ++i) {
            keep = i;
        }
        if (!h.empty() && h[keep].mod_revision <= rev && h[keep].version == 0) {
            ++keep;
        }
        if (keep > 0) {
            h.erase(h.begin(), h.begin() + static_cast<ptrdiff_t>(keep));
        }
        it = h.empty() ? index_.erase(it) : std::next(it);
    }
    compact_revision_ = rev;
}

std::vector<std::pair<int64_t, Event>> Store::history(const std::string& key,
                                                      const std::string& range_end,
                                                      int64_t from_rev, int64_t to_rev) const {
    struct Item {
        int64_t rev;
        int32_t sub;
        Event ev;
    };
    std::vector<Item> items;
    for_each_in_range(key, range_end, [&](const std::string& k, const History& h) {
        for (size_t i = 0; i < h.size(); ++i) {
            const Version& v = h[i];
            if (v.mod_revision < from_rev || v.mod_revision > to_rev) {
                continue;
            }
            Event ev;
            if (v.version == 0) {
                ev.type = EventType::kDelete;
                ev.kv.key = k;
                ev.kv.mod_revision = v.mod_revision;
            } else {
                ev.kv = to_kv(k, v);
            }
            if (i > 0 && h[i - 1].version != 0) {
                ev.prev_kv = to_kv(k, h[i - 1]);
            }
            items.push_back({v.mod_revision, v.sub, std::move(ev)});
        }
    });
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
        return a.rev != b.rev ? a.rev < b.rev : a.sub < b.sub;
    });
    std::vector<std::pair<int64_t, Event>> out;
    out.reserve(items.size());
    for (auto& it : items) {
        out.emplace_back(it.rev, std::move(it.ev));
    }
    return out;
}

void Store::replay_commit(const Commit& commit) {
    WriteTxn w(*this);
    for (const Event& ev : commit.events) {
        if (ev.type == EventType::kPut) {
            w.put(ev.kv.key, ev.kv.value, ev.kv.lease);
        } else {
            w.del(ev.kv.key);
        }
    }
    StoreListener* saved = std::exchange(listener_, nullptr);
    w.finish();
    listener_ = saved;
    // A log may skip revisions only if something is badly wrong; trust the log's number.
    revision_ = std::max(revision_, commit.revision);
}

void Store::revoke_locked(int64_t id) {
    auto it = leases_.find(id);
    // Deleting the keys first, in key order and in one revision, is what etcd does; the
    // listener logs the deletions before the revocation so replay sees the same order.
    std::set<std::string> keys = std::move(it->second.keys);
    {
        WriteTxn w(*this);
        for (const auto& k : keys) {
            w.del(k);
        }
        w.finish();
    }
    leases_.erase(id);
    if (listener_ != nullptr) {
        listener_->on_lease_revoke(id);
    }
}

void Store::replay_compact(int64_t rev) {
    if (rev > compact_revision_ && rev <= revision_) {
        apply_compact(rev);
    }
}

}  // namespace gantry::kv
