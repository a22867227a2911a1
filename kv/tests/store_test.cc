#include "kv/store.h"

#include <gtest/gtest.h>

namespace gantry::kv {
namespace {

PutRequest put_req(std::string k, std::string v, int64_t lease = 0) {
    PutRequest p;
    p.key = std::move(k);
    p.value = std::move(v);
    p.lease = lease;
    return p;
}

RangeRequest range_req(std::string k, std::string end = "") {
    RangeRequest r;
    r.key = std::move(k);
    r.range_end = std::move(end);
    return r;
}

RequestOp put_op(std::string k, std::string v) {
    RequestOp op;
    op.kind = RequestOp::Kind::kPut;
    op.put = put_req(std::move(k), std::move(v));
    return op;
}

RequestOp del_op(std::string k, std::string end = "") {
    RequestOp op;
    op.kind = RequestOp::Kind::kDeleteRange;
    op.delete_range.key = std::move(k);
    op.delete_range.range_end = std::move(end);
    return op;
}

RequestOp txn_op(TxnRequest t) {
    RequestOp op;
    op.kind = RequestOp::Kind::kTxn;
    op.txn = std::make_shared<TxnRequest>(std::move(t));
    return op;
}

struct Recorder : StoreListener {
    std::vector<Commit> commits;
    std::vector<int64_t> grants, revokes, compacts;
    void on_commit(const Commit& c) override { commits.push_back(c); }
    void on_lease_grant(int64_t id, int64_t) override { grants.push_back(id); }
    void on_lease_revoke(int64_t id) override { revokes.push_back(id); }
    void on_compact(int64_t rev) override { compacts.push_back(rev); }
};

TEST(Store, RevisionsVersionsAndPrevKv) {
    Store s;
    EXPECT_EQ(s.revision(), 1);
    auto p1 = s.put(put_req("a", "1"));
    ASSERT_TRUE(p1);
    EXPECT_EQ(p1->header.revision, 2);
    EXPECT_FALSE(p1->prev_kv);
    auto req = put_req("a", "2");
    req.prev_kv = true;
    auto p2 = s.put(req);
    ASSERT_TRUE(p2);
    ASSERT_TRUE(p2->prev_kv);
    EXPECT_EQ(p2->prev_kv->value, "1");
    auto r = s.range(range_req("a"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->kvs.size(), 1u);
    EXPECT_EQ(r->kvs[0].create_revision, 2);
    EXPECT_EQ(r->kvs[0].mod_revision, 3);
    EXPECT_EQ(r->kvs[0].version, 2);
    // Delete, then re-create: the version restarts and create_revision moves.
    ASSERT_TRUE(s.delete_range({"a", "", false}));
    ASSERT_TRUE(s.put(put_req("a", "3")));
    r = s.range(range_req("a"));
    EXPECT_EQ(r->kvs[0].create_revision, 5);
    EXPECT_EQ(r->kvs[0].version, 1);
    // Past revisions still read the old value.
    auto past = range_req("a");
    past.revision = 3;
    EXPECT_EQ(s.range(past)->kvs[0].value, "2");
    past.revision = 4;
    EXPECT_TRUE(s.range(past)->kvs.empty());
    past.revision = 99;
    EXPECT_EQ(s.range(past).error().message, errors::kFutureRev);
}

TEST(Store, RangeOptions) {
    Store s;
    for (std::string k : {"b", "a", "c", "d"}) {
        ASSERT_TRUE(s.put(put_req("p/" + k, "v" + k)));
    }
    ASSERT_TRUE(s.put(put_req("q", "x")));
    ASSERT_TRUE(s.put(put_req("p/a", "z")));  // p/a: version 2, newest mod revision
    auto r = range_req("p/", prefix_end("p/"));
    EXPECT_EQ(s.range(r)->count, 4);
    r.limit = 2;
    auto lim = s.range(r);
    EXPECT_EQ(lim->kvs.size(), 2u);
    EXPECT_TRUE(lim->more);
    EXPECT_EQ(lim->count, 4);
    r.limit = 0;
    r.sort_target = SortTarget::kMod;
    r.sort_order = SortOrder::kDescend;
    EXPECT_EQ(s.range(r)->kvs[0].key, "p/a");
    r.sort_target = SortTarget::kValue;  // order NONE with a non-key target: ascending
    r.sort_order = SortOrder::kNone;
    EXPECT_EQ(s.range(r)->kvs.back().key, "p/a");
    r = range_req("p/", prefix_end("p/"));
    r.keys_only = true;
    EXPECT_EQ(s.range(r)->kvs[0].value, "");
    r.keys_only = false;
    r.count_only = true;
    auto co = s.range(r);
    EXPECT_TRUE(co->kvs.empty());
    EXPECT_EQ(co->count, 4);
    r.count_only = false;
    r.min_mod_revision = 4;
    r.max_mod_revision = 5;
    auto f = s.range(r);
    ASSERT_EQ(f->kvs.size(), 2u);
    EXPECT_EQ(f->kvs[0].key, "p/c");
    // "\0" .. "\0" is every key.
    EXPECT_EQ(s.range(range_req(std::string(1, '\0'), std::string(1, '\0')))->count, 5);
    EXPECT_EQ(s.range(range_req("")).error().message, errors::kEmptyKey);
    EXPECT_EQ(prefix_end("a\xff"), "b");
    EXPECT_EQ(prefix_end("\xff"), std::string(1, '\0'));
}

TEST(Store, TxnComparesAndBranches) {
    Store s;
    ASSERT_TRUE(s.put(put_req("k", "v1")));
    TxnRequest t;
    Compare c;
    c.key = "k";
    c.target = CompareTarget::kValue;
    c.value = "v1";
    t.compare.push_back(c);
    t.success.push_back(put_op("k", "v2"));
    RequestOp rd;
    rd.kind = RequestOp::Kind::kRange;
    rd.range = range_req("k");
    t.success.push_back(rd);
    t.failure.push_back(put_op("other", "x"));
    auto r = s.txn(t);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->succeeded);
    EXPECT_EQ(r->header.revision, 3);
    // The range inside the txn sees the txn's own put.
    EXPECT_EQ(r->responses[1].range.kvs[0].value, "v2");
    EXPECT_EQ(r->responses[1].range.header.revision, 3);
    r = s.txn(t);  // value is now v2: failure branch
    EXPECT_FALSE(r->succeeded);
    EXPECT_EQ(s.range(range_req("other"))->count, 1);
    // A value compare on a missing key always fails; a version compare sees version 0.
    Compare missing;
    missing.key = "nope";
    missing.target = CompareTarget::kValue;
    missing.result = CompareResult::kNotEqual;
    missing.value = "x";
    TxnRequest t2;
    t2.compare.push_back(missing);
    EXPECT_FALSE(s.txn(t2)->succeeded);
    missing.target = CompareTarget::kVersion;
    missing.result = CompareResult::kEqual;
    missing.number = 0;
    t2.compare = {missing};
    EXPECT_TRUE(s.txn(t2)->succeeded);
    // A read-only txn keeps the revision.
    EXPECT_EQ(s.txn(t2)->header.revision, s.revision());
}

TEST(Store, TxnDuplicateKeysAndNesting) {
    Store s;
    TxnRequest dup;
    dup.success = {put_op("a", "1"), put_op("a", "2")};
    EXPECT_EQ(s.txn(dup).error().message, errors::kDuplicateKey);
    TxnRequest del_put;
    del_put.success = {del_op("a", "b"), put_op("a", "1")};
    EXPECT_EQ(s.txn(del_put).error().message, errors::kDuplicateKey);
    TxnRequest inner;
    inner.success = {put_op("x", "1")};
    inner.failure = {put_op("x", "2")};  // exclusive branches may repeat a key
    TxnRequest outer;
    outer.success = {txn_op(inner), put_op("y", "1")};
    auto r = s.txn(outer);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->responses[0].txn->responses[0].put.header.revision, 2);
    outer.success.push_back(put_op("x", "3"));
    EXPECT_EQ(s.txn(outer).error().message, errors::kDuplicateKey);
    TxnRequest many;
    for (int i = 0; i < 129; ++i) {
        many.success.push_back(put_op("k" + std::to_string(i), "v"));
    }
    EXPECT_EQ(s.txn(many).error().message, errors::kTooManyOps);
    // A failing op rolls back the whole txn.
    TxnRequest bad;
    bad.success = {put_op("z", "1"), put_op("w", "")};
    bad.success[1].put.lease = 42;
    EXPECT_EQ(s.txn(bad).error().code, Code::kNotFound);
    EXPECT_EQ(s.range(range_req("z"))->count, 0);
    EXPECT_EQ(s.revision(), 2);
}

TEST(Store, PutIgnoreValueAndLease) {
    Store s;
    auto now = Clock::now();
    auto g = s.lease_grant(7, 30, now);
    ASSERT_TRUE(g);
    ASSERT_TRUE(s.put(put_req("k", "v", 7)));
    PutRequest iv;
    iv.key = "k";
    iv.ignore_value = true;
    ASSERT_TRUE(s.put(iv));
    auto r = s.range(range_req("k"));
    EXPECT_EQ(r->kvs[0].value, "v");
    EXPECT_EQ(r->kvs[0].lease, 0);
    PutRequest il = put_req("k", "w");
    il.ignore_lease = true;
    ASSERT_TRUE(s.put(put_req("k", "v", 7)));
    ASSERT_TRUE(s.put(il));
    EXPECT_EQ(s.range(range_req("k"))->kvs[0].lease, 7);
    iv.key = "missing";
    EXPECT_EQ(s.put(iv).error().message, errors::kKeyNotFound);
    iv.value = "x";
    EXPECT_EQ(s.put(iv).error().message, errors::kValueProvided);
}

TEST(Store, CompactionErrors) {
    Store s;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(s.put(put_req("k", std::to_string(i))));
    }
    ASSERT_TRUE(s.delete_range({"k", "", false}));
    ASSERT_TRUE(s.put(put_req("j", "x")));  // rev 8
    EXPECT_EQ(s.compact(99).error().message, errors::kFutureRev);
    ASSERT_TRUE(s.compact(4));
    EXPECT_EQ(s.compact(4).error().message, errors::kCompacted);
    auto at = range_req("k");
    at.revision = 4;
    EXPECT_EQ(s.range(at)->kvs[0].value, "2");
    at.revision = 3;
    EXPECT_EQ(s.range(at).error().message, errors::kCompacted);
    ASSERT_TRUE(s.compact(7));  // k's tombstone is at 7: the key disappears
    EXPECT_EQ(s.key_count(), 1u);
}

TEST(Store, LeasesExpireInOneRevision) {
    Store s;
    Recorder rec;
    s.set_listener(&rec);
    auto t0 = Clock::now();
    auto g = s.lease_grant(0, 1, t0);
    ASSERT_TRUE(g);
    EXPECT_GT(g->id, 0);
    EXPECT_EQ(g->ttl, kMinLeaseTtl);
    EXPECT_EQ(s.lease_grant(g->id, 5, t0).error().message, errors::kLeaseExist);
    EXPECT_EQ(s.lease_grant(1, kMaxLeaseTtl + 1, t0).error().code, Code::kOutOfRange);
    ASSERT_TRUE(s.put(put_req("b", "1", g->id)));
    ASSERT_TRUE(s.put(put_req("a", "1", g->id)));
    auto ttl = s.lease_time_to_live(g->id, true, t0 + std::chrono::milliseconds(500));
    EXPECT_EQ(ttl.ttl, 1);
    EXPECT_EQ(ttl.granted_ttl, 2);
    EXPECT_EQ(ttl.keys, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(s.lease_keepalive(g->id, t0 + std::chrono::seconds(1)).ttl, 2);
    EXPECT_TRUE(s.expire_leases(t0 + std::chrono::seconds(2)).empty());
    int64_t rev = s.revision();
    EXPECT_EQ(s.expire_leases(t0 + std::chrono::seconds(3)), std::vector<int64_t>{g->id});
    EXPECT_EQ(s.revision(), rev + 1);
    EXPECT_EQ(rec.commits.back().events.size(), 2u);
    EXPECT_EQ(rec.commits.back().events[0].kv.key, "a");
    EXPECT_EQ(rec.revokes, std::vector<int64_t>{g->id});
    EXPECT_EQ(s.lease_time_to_live(g->id, false, t0).ttl, -1);
    EXPECT_EQ(s.lease_keepalive(g->id, t0).ttl, 0);
    EXPECT_EQ(s.lease_revoke(g->id).error().code, Code::kNotFound);
    // Revoking a lease without keys does not create a revision.
    ASSERT_TRUE(s.lease_grant(9, 10, t0));
    rev = s.revision();
    ASSERT_TRUE(s.lease_revoke(9));
    EXPECT_EQ(s.revision(), rev);
}

TEST(Store, HistoryAndSnapshotRoundTrip) {
    Store s;
    ASSERT_TRUE(s.put(put_req("a", "1")));
    ASSERT_TRUE(s.put(put_req("b", "1")));
    ASSERT_TRUE(s.put(put_req("a", "2")));
    ASSERT_TRUE(s.delete_range({"a", "", false}));
    auto h = s.history("a", "", 3, 100);
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[0].second.kv.value, "2");
    EXPECT_EQ(h[0].second.prev_kv->value, "1");
    EXPECT_EQ(h[1].second.type, EventType::kDelete);
    EXPECT_EQ(h[1].first, 5);
    ASSERT_TRUE(s.lease_grant(3, 60, Clock::now()));
    ASSERT_TRUE(s.put(put_req("c", "x", 3)));
    std::string snap = s.encode_snapshot();
    Store t;
    ASSERT_TRUE(t.decode_snapshot(snap, Clock::now()));
    EXPECT_EQ(t.revision(), s.revision());
    EXPECT_EQ(t.encode_snapshot(), snap);
    EXPECT_EQ(t.lease_time_to_live(3, true, Clock::now()).keys.size(), 1u);
    EXPECT_FALSE(t.decode_snapshot(snap.substr(0, snap.size() - 3), Clock::now()));
}

}  // namespace
}  // namespace gantry::kv
