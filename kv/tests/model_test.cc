// Model test: random operation histories (fixed seeds) against the Store and against a
// deliberately naive model that keeps a full copy of the key space per revision. Every
// response must match: revisions, versions, create/mod revisions, prev_kv, counts, errors.
// The model is written from etcd's documented semantics, not from store.cc, so a shared
// misunderstanding is unlikely; the differential test against etcd covers the rest.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "kv/store.h"

namespace gantry::kv {
namespace {

using State = std::map<std::string, KeyValue>;

class Model {
  public:
    Model() : states_(2) {}  // revision 1 is the empty store, as in etcd
    int64_t rev() const { return static_cast<int64_t>(states_.size()) - 1; }

    static bool in_range(const std::string& k, const std::string& key, const std::string& end) {
        if (end.empty()) {
            return k == key;
        }
        if (range_end_is_infinite(end)) {
            return k >= key;
        }
        return k >= key && k < end;
    }

    ApiResult<RangeResponse> range(const RangeRequest& r, const State* view = nullptr) const {
        if (r.revision > rev()) {
            return api_error(Code::kOutOfRange, errors::kFutureRev);
        }
        if (r.revision > 0 && r.revision < compacted_) {
            return api_error(Code::kOutOfRange, errors::kCompacted);
        }
        const State& s = view ? *view : states_[r.revision > 0 ? r.revision : rev()];
        RangeResponse out;
        out.header.revision = rev();
        for (const auto& [k, kv] : s) {
            if (!in_range(k, r.key, r.range_end)) {
                continue;
            }
            ++out.count;
            if (r.count_only) {
                continue;
            }
            if (r.limit > 0 && static_cast<int64_t>(out.kvs.size()) >= r.limit) {
                out.more = true;
                continue;
            }
            out.kvs.push_back(kv);
            if (r.keys_only) {
                out.kvs.back().value.clear();
            }
        }
        return out;
    }

    bool compare(const Compare& c, const State& s) const {
        auto it = s.find(c.key);
        if (it == s.end() && c.target == CompareTarget::kValue) {
            return false;
        }
        KeyValue none;
        const KeyValue& kv = it == s.end() ? none : it->second;
        int cmp = 0;
        if (c.target == CompareTarget::kValue) {
            cmp = kv.value.compare(c.value);
        } else {
            int64_t have = c.target == CompareTarget::kVersion  ? kv.version
                           : c.target == CompareTarget::kCreate ? kv.create_revision
                                                                : kv.mod_revision;
            cmp = have < c.number ? -1 : have > c.number ? 1 : 0;
        }
        switch (c.result) {
            case CompareResult::kEqual:
                return cmp == 0;
            case CompareResult::kGreater:
                return cmp > 0;
            case CompareResult::kLess:
                return cmp < 0;
            case CompareResult::kNotEqual:
                return cmp != 0;
        }
        return false;
    }

    // Applies a (flat) txn on a working copy; reads see the txn's earlier writes.
    ApiResult<TxnResponse> txn(const TxnRequest& t) {
        State s = states_.back();
        int64_t next = rev() + 1;
        bool wrote = false;
        TxnResponse out;
        out.succeeded = true;
        for (const auto& c : t.compare) {
            out.succeeded = out.succeeded && compare(c, s);
        }
        for (const auto& op : out.succeeded ? t.success : t.failure) {
            ResponseOp r;
            r.kind = op.kind;
            if (op.kind == RequestOp::Kind::kRange) {
                r.range = *range(op.range, &s);
            } else if (op.kind == RequestOp::Kind::kPut) {
                KeyValue kv{op.put.key, next, next, 1, op.put.value, 0};
                if (auto it = s.find(op.put.key); it != s.end()) {
                    if (op.put.prev_kv) {
                        r.put.prev_kv = it->second;
                    }
                    kv.create_revision = it->second.create_revision;
                    kv.version = it->second.version + 1;
                }
                s[op.put.key] = kv;
                wrote = true;
            } else if (op.kind == RequestOp::Kind::kDeleteRange) {
                const auto& d = op.delete_range;
                for (auto it = s.begin(); it != s.end();) {
                    if (in_range(it->first, d.key, d.range_end)) {
                        ++r.delete_range.deleted;
                        if (d.prev_kv) {
                            r.delete_range.prev_kvs.push_back(it->second);
                        }
                        it = s.erase(it);
                        wrote = true;
                    } else {
                        ++it;
                    }
                }
            }
            out.responses.push_back(std::move(r));
        }
        if (wrote) {
            states_.push_back(std::move(s));
        }
        out.header.revision = rev();
        return out;
    }

    ApiResult<CompactionResponse> compact(int64_t r) {
        if (r <= compacted_) {
            return api_error(Code::kOutOfRange, errors::kCompacted);
        }
        if (r > rev()) {
            return api_error(Code::kOutOfRange, errors::kFutureRev);
        }
        compacted_ = r;
        return CompactionResponse{{rev()}};
    }

  private:
    std::vector<State> states_;
    int64_t compacted_ = 0;
};

std::string show(const KeyValue& kv) {
    return fmt::format("{}={}@c{}m{}v{}", kv.key, kv.value, kv.create_revision, kv.mod_revision,
                       kv.version);
}

// A canonical text of a response; inner headers of txn ops are left out (etcd fills them
// inconsistently across versions), the top-level revision is compared.
std::string show(const ResponseOp& r) {
    std::string s;
    switch (r.kind) {
        case RequestOp::Kind::kRange:
            s = fmt::format("range count={} more={}", r.range.count, r.range.more);
            for (const auto& kv : r.range.kvs) {
                s += " " + show(kv);
            }
            break;
        case RequestOp::Kind::kPut:
            s = "put prev=" + (r.put.prev_kv ? show(*r.put.prev_kv) : std::string("-"));
            break;
        case RequestOp::Kind::kDeleteRange:
            s = fmt::format("delete n={}", r.delete_range.deleted);
            for (const auto& kv : r.delete_range.prev_kvs) {
                s += " " + show(kv);
            }
            break;
        default:
            break;
    }
    return s;
}

template <typename T>
std::string show_result(const ApiResult<T>& r, auto&& body) {
    if (!r) {
        return fmt::format("error {} {}", static_cast<int>(r.error().code), r.error().message);
    }
    return fmt::format("rev={} {}", r->header.revision, body(*r));
}

class Gen {
  public:
    explicit Gen(uint32_t seed) : rng_(seed) {}
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
    std::string key() { return kKeys[pick(6)]; }
    std::string range_end(const std::string& key) {
        switch (pick(4)) {
            case 0:
                return "";
            case 1:
                return prefix_end(key);
            case 2:
                return std::string(1, '\0');
            default:
                return key + "z";
        }
    }
    RequestOp op(bool single_key_writes, std::set<std::string>& written) {
        RequestOp o;
        int k = pick(3);
        std::string key = this->key();
        if (k == 0) {
            o.kind = RequestOp::Kind::kRange;
            o.range.key = key;
            o.range.range_end = range_end(key);
            o.range.limit = pick(3);
            o.range.keys_only = pick(4) == 0;
            o.range.count_only = pick(6) == 0;
        } else if (single_key_writes && written.contains(key)) {
            o.kind = RequestOp::Kind::kNone;  // a second write to a key is etcd's error
        } else if (k == 1) {
            written.insert(key);
            o.kind = RequestOp::Kind::kPut;
            o.put.key = key;
            o.put.value = "v" + std::to_string(pick(1000));
            o.put.prev_kv = pick(2) == 0;
        } else {
            written.insert(key);
            o.kind = RequestOp::Kind::kDeleteRange;
            o.delete_range.key = key;
            o.delete_range.range_end = single_key_writes ? "" : range_end(key);
            o.delete_range.prev_kv = pick(2) == 0;
        }
        return o;
    }

  private:
    static constexpr const char* kKeys[] = {"a", "ab", "abc", "b", "c", "d"};
    std::mt19937 rng_;
};

void run_history(uint32_t seed, int ops) {
    Store store;
    Model model;
    Gen g(seed);
    for (int i = 0; i < ops; ++i) {
        std::string want, got;
        int kind = g.pick(20);
        if (kind < 8) {  // a plain put, range or delete is a txn with one op
            std::set<std::string> w;
            RequestOp op = g.op(false, w);
            TxnRequest t;
            t.success.push_back(op);
            auto m = model.txn(t);
            if (op.kind == RequestOp::Kind::kRange) {
                op.range.revision = g.pick(static_cast<int>(model.rev()) + 2);
                want = show_result(model.range(op.range), [](const RangeResponse& r) {
                    return show(ResponseOp{RequestOp::Kind::kRange, r});
                });
                got = show_result(store.range(op.range), [](const RangeResponse& r) {
                    return show(ResponseOp{RequestOp::Kind::kRange, r});
                });
            } else {
                auto body = [](const TxnResponse& r) { return show(r.responses[0]); };
                want = show_result(m, body);
                got =
                    op.kind == RequestOp::Kind::kPut
                        ? show_result(store.put(op.put),
                                      [](const PutResponse& r) {
                                          return show(ResponseOp{RequestOp::Kind::kPut, {}, r});
                                      })
                        : show_result(
                              store.delete_range(op.delete_range),
                              [](const DeleteRangeResponse& r) {
                                  return show(ResponseOp{RequestOp::Kind::kDeleteRange, {}, {}, r});
                              });
            }
        } else if (kind < 19) {
            TxnRequest t;
            for (int c = g.pick(3); c > 0; --c) {
                Compare cmp;
                cmp.key = g.key();
                cmp.target = static_cast<CompareTarget>(g.pick(4));
                cmp.result = static_cast<CompareResult>(g.pick(4));
                cmp.number = g.pick(static_cast<int>(model.rev()) + 2);
                cmp.value = "v" + std::to_string(g.pick(1000));
                t.compare.push_back(cmp);
            }
            std::set<std::string> ws, wf;
            for (int n = g.pick(4); n > 0; --n) {
                if (auto o = g.op(true, ws); o.kind != RequestOp::Kind::kNone) {
                    t.success.push_back(o);
                }
            }
            for (int n = g.pick(3); n > 0; --n) {
                if (auto o = g.op(true, wf); o.kind != RequestOp::Kind::kNone) {
                    t.failure.push_back(o);
                }
            }
            auto body = [](const TxnResponse& r) {
                std::string s = r.succeeded ? "succeeded" : "failed";
                for (const auto& op : r.responses) {
                    s += " | " + show(op);
                }
                return s;
            };
            want = show_result(model.txn(t), body);
            got = show_result(store.txn(t), body);
        } else {
            int64_t r = model.rev() - 3 + g.pick(5);
            auto body = [](const CompactionResponse&) { return std::string(); };
            want = show_result(model.compact(r), body);
            got = show_result(store.compact(r), body);
        }
        ASSERT_EQ(got, want) << "seed " << seed << ", operation " << i;
    }
}

TEST(Model, RandomHistoriesMatchTheModel) {
    for (uint32_t seed : {1u, 2u, 3u, 42u, 1234u}) {
        run_history(seed, 2000);
    }
}

}  // namespace
}  // namespace gantry::kv
