// Differential test: the same requests go to gantry-kv and to Debian's etcd (started on
// 127.0.0.1 by the test); the responses must match once cluster and member ids and the
// raft term are masked.
#include <gtest/gtest.h>

#include "kv/json.h"
#include "kv/tests/server_fixture.h"

namespace gantry::kv {
namespace {

using json::Json;
using namespace testing;

std::string b(std::string_view s) {
    return json::base64_encode(s);
}

void mask(Json& j) {
    if (j.is_object()) {
        for (const char* k : {"cluster_id", "member_id", "raft_term"}) {
            j.erase(k);
        }
        for (auto& [k, v] : j.items()) {
            mask(v);
        }
    } else if (j.is_array()) {
        for (auto& v : j) {
            mask(v);
        }
    }
}

class DiffTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (::access(kEtcdBin, X_OK) != 0) {
            return;
        }
        etcd_dir_ = temp_dir("kv-diff-etcd");
        gkv_dir_ = temp_dir("kv-diff-gkv");
        int ep = free_port(), pp = free_port(), gp = free_port();
        etcd_ = new Child(start_etcd(ep, pp, etcd_dir_));
        gkv_ = new Child(start_gantry_kv(gp, gkv_dir_));
        etcd_ep_ = "127.0.0.1:" + std::to_string(ep);
        gkv_ep_ = "127.0.0.1:" + std::to_string(gp);
        // etcd takes seconds to elect itself on a loaded machine; both start in parallel.
        ready_ = wait_ready(etcd_ep_, std::chrono::seconds(30)) &&
                 wait_ready(gkv_ep_, std::chrono::seconds(5));
    }
    static void TearDownTestSuite() {
        delete etcd_;
        delete gkv_;
        std::filesystem::remove_all(etcd_dir_);
        std::filesystem::remove_all(gkv_dir_);
    }
    void SetUp() override {
        if (::access(kEtcdBin, X_OK) != 0) {
            GTEST_SKIP() << "needs Debian's etcd-server (" << kEtcdBin << ")";
        }
        ASSERT_TRUE(ready_) << "etcd or gantry-kv did not start";
    }

    // Sends one request to both and expects equal status and masked JSON.
    void same(const std::string& path, const std::string& body) {
        auto a = etcd_client_.post(path, body);
        auto g = gkv_client_.post(path, body);
        ASSERT_TRUE(a) << a.error().str();
        ASSERT_TRUE(g) << g.error().str();
        EXPECT_EQ(a->status, g->status)
            << path << " " << body << "\netcd: " << a->body << "\ngantry-kv: " << g->body;
        Json ja = Json::parse(a->body, nullptr, false);
        Json jg = Json::parse(g->body, nullptr, false);
        if (ja.is_discarded()) {
            EXPECT_EQ(a->body, g->body) << path << " " << body;
            return;
        }
        mask(ja);
        mask(jg);
        EXPECT_EQ(ja, jg) << path << " " << body << "\netcd:      " << ja.dump()
                          << "\ngantry-kv: " << jg.dump();
    }

    static inline Child* etcd_ = nullptr;
    static inline Child* gkv_ = nullptr;
    static inline std::string etcd_dir_, gkv_dir_, etcd_ep_, gkv_ep_;
    static inline bool ready_ = false;
    static Client with_timeout(const std::string& ep) {
        Client c(ep);
        c.set_timeout(std::chrono::seconds(10));
        return c;
    }
    Client etcd_client_ = with_timeout(etcd_ep_);
    Client gkv_client_ = with_timeout(gkv_ep_);
};

// The tests share one pair of servers and run in order: revisions line up as long as
// every test sends the same writes to both.
TEST_F(DiffTest, KvPutRangeDelete) {
    same("/v3/kv/put", R"({"key":")" + b("a") + R"(","value":")" + b("1") + R"("})");
    same("/v3/kv/put", R"({"key":")" + b("a") + R"(","value":")" + b("2") + R"(","prev_kv":true})");
    same("/v3/kv/put", R"({"key":")" + b("ab") + R"(","value":")" + b("3") + R"("})");
    same("/v3/kv/put", R"({"key":")" + b("b") + R"(","value":")" + b("0") + R"("})");
    same("/v3/kv/range", R"({"key":")" + b("a") + R"("})");
    same("/v3/kv/range", R"({"key":")" + b("a") + R"(","range_end":")" + b("c") + R"("})");
    same("/v3/kv/range",
         R"({"key":")" + b("a") + R"(","rangeEnd":")" + b("c") + R"(","limit":"1"})");
    same("/v3/kv/range",
         R"({"key":"AA==","range_end":"AA==","sort_target":"VALUE","sort_order":"DESCEND"})");
    same("/v3/kv/range", R"({"key":"AA==","range_end":"AA==","sort_target":"MOD"})");
    same("/v3/kv/range", R"({"key":"AA==","range_end":"AA==","keys_only":true})");
    same("/v3/kv/range", R"({"key":"AA==","range_end":"AA==","countOnly":true})");
    same("/v3/kv/range", R"({"key":"AA==","range_end":"AA==","min_mod_revision":3})");
    same("/v3/kv/range", R"({"key":")" + b("a") + R"(","revision":2})");
    same("/v3/kv/range", R"({"key":")" + b("a") + R"(","revision":"1000"})");
    same("/v3/kv/range", R"({"key":")" + b("zz") + R"("})");
    same("/v3/kv/deleterange",
         R"({"key":")" + b("a") + R"(","range_end":")" + b("b") + R"(","prev_kv":true})");
    same("/v3/kv/deleterange", R"({"key":")" + b("nothing") + R"("})");
    same("/v3/kv/range", R"({"key":"AA==","range_end":"AA=="})");
}

TEST_F(DiffTest, Txn) {
    std::string k = b("t"), v1 = b("v1"), v2 = b("v2");
    same("/v3/kv/txn", R"({"compare":[{"key":")" + k +
                           R"(","result":"EQUAL","target":"VERSION","version":0}],
        "success":[{"request_put":{"key":")" +
                           k + R"(","value":")" + v1 + R"("}},
                   {"request_range":{"key":")" +
                           k + R"("}}],
        "failure":[{"request_range":{"key":")" +
                           k + R"("}}]})");
    same("/v3/kv/txn", R"({"compare":[{"key":")" + k +
                           R"(","target":"VALUE","result":"GREATER","value":")" + b("v0") +
                           R"("}],"success":[{"request_delete_range":{"key":")" + k +
                           R"(","prev_kv":true}}]})");
    same("/v3/kv/txn", R"({"compare":[{"key":")" + k +
                           R"(","target":"MOD","result":"LESS","mod_revision":"1"}],
        "failure":[{"request_txn":{"success":[{"request_put":{"key":")" +
                           b("n") + R"(","value":")" + v2 + R"("}}]}}]})");
    same("/v3/kv/txn", R"({"success":[{"request_put":{"key":")" + k + R"(","value":")" + v1 +
                           R"("}},{"request_put":{"key":")" + k + R"(","value":")" + v2 +
                           R"("}}]})");
    same("/v3/kv/txn", R"({"success":[{"request_delete_range":{"key":"AA==","range_end":"AA=="}},
        {"request_put":{"key":")" +
                           k + R"(","value":")" + v2 + R"("}}]})");
    same("/v3/kv/txn",
         R"({"compare":[{"key":")" + b("missing") + R"(","target":"VALUE","value":""}]})");
}

TEST_F(DiffTest, Errors) {
    same("/v3/kv/range", "garbage");
    same("/v3/kv/range", "");
    same("/v3/kv/range", "[]");
    same("/v3/kv/range", R"({"key":1})");
    same("/v3/kv/range", R"({"key":"!!"})");
    same("/v3/kv/range", R"({"key":"YQ==","keys_only":"true"})");
    same("/v3/kv/range", R"({"key":"YQ==","limit":1.5})");
    same("/v3/kv/range", R"({"key":"YQ==","sort_target":"BOGUS"})");
    same("/v3/kv/put", R"({"key":"","value":"MQ=="})");
    same("/v3/kv/put", R"({"key":"YQ==","ignore_value":true,"value":"MQ=="})");
    same("/v3/kv/put", R"({"key":")" + b("nokey") + R"(","ignore_value":true})");
    same("/v3/kv/put", R"({"key":"YQ==","ignore_lease":true,"lease":3})");
    same("/v3/kv/put", R"({"key":"YQ==","value":"MQ==","lease":424242})");
    same("/v3/kv/nothing", "{}");
}

TEST_F(DiffTest, CompactionAndLeases) {
    same("/v3/kv/put", R"({"key":")" + b("c") + R"(","value":")" + b("1") + R"("})");
    same("/v3/kv/compaction", R"({"revision":3})");
    same("/v3/kv/compaction", R"({"revision":3})");
    same("/v3/kv/compaction", R"({"revision":100000})");
    same("/v3/kv/range", R"({"key":")" + b("a") + R"(","revision":2})");
    same("/v3/lease/grant", R"({"TTL":60,"ID":4242})");
    same("/v3/lease/grant", R"({"TTL":60,"ID":4242})");
    same("/v3/lease/grant", R"({"TTL":"9000000001","ID":4243})");
    same("/v3/kv/put",
         R"({"key":")" + b("l1") + R"(","value":")" + b("x") + R"(","lease":"4242"})");
    same("/v3/kv/put", R"({"key":")" + b("l2") + R"(","value":")" + b("x") + R"(","lease":4242})");
    same("/v3/lease/leases", "{}");
    same("/v3/lease/timetolive", R"({"ID":999})");
    same("/v3/lease/revoke", R"({"ID":4242})");
    same("/v3/lease/revoke", R"({"ID":4242})");
    same("/v3/kv/range", R"({"key":")" + b("l") + R"(","range_end":")" + b("m") + R"("})");
    same("/v3beta/kv/range", R"({"key":")" + b("c") + R"("})");
    // etcd 3.4 dropped /v3alpha; gantry-kv keeps it for older clients (the issue asks).
    auto alpha = gkv_client_.post("/v3alpha/kv/range", R"({"key":")" + b("c") + R"("})");
    ASSERT_TRUE(alpha);
    EXPECT_EQ(alpha->status, 200);
    EXPECT_NE(alpha->body.find(R"("count":"1")"), std::string::npos);
}

TEST_F(DiffTest, Watch) {
    // Collect a watch's messages on both servers while the same writes happen.
    auto collect = [&](const std::string& ep, Client& writer, const std::string& create, size_t n,
                       bool write, std::vector<Json>& out) {
        std::thread t([&, ep] {
            Client c(ep);
            c.set_timeout(std::chrono::seconds(10));  // a missing event fails, never hangs
            auto st = c.stream("/v3/watch", create, [&](const std::string& m) {
                out.push_back(Json::parse(m));
                return out.size() < n;
            });
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        if (write) {
            ASSERT_TRUE(writer.put("w1", "a"));
            ASSERT_TRUE(writer.put("w2", "b"));
            ASSERT_TRUE(writer.del("w1"));
        }
        t.join();
    };
    auto compare = [&](const std::string& create, size_t n, bool write) {
        std::vector<Json> a, g;
        collect(etcd_ep_, etcd_client_, create, n, write, a);
        collect(gkv_ep_, gkv_client_, create, n, write, g);
        ASSERT_EQ(a.size(), g.size());
        for (size_t i = 0; i < a.size(); ++i) {
            mask(a[i]);
            mask(g[i]);
            EXPECT_EQ(a[i], g[i]) << create << " message " << i;
        }
    };
    auto rev = [&] {
        auto r = gkv_client_.get("x");
        return std::stoll(Json::parse(*r)["header"]["revision"].get<std::string>());
    };
    int64_t start = rev() + 1;
    // Live events with prev_kv: created + put + put + delete.
    compare(R"({"create_request":{"key":")" + b("w") + R"(","range_end":")" + b("x") +
                R"(","prev_kv":true}})",
            4, true);
    // The same revisions replayed from history, without puts: created + one batch.
    compare(R"({"create_request":{"key":")" + b("w") + R"(","range_end":")" + b("x") +
                R"(","start_revision":)" + std::to_string(start) + R"(,"filters":["NOPUT"]}})",
            2, false);
    // A watch from before the compaction is cancelled with the compact revision.
    same("/v3/kv/compaction", R"({"revision":)" + std::to_string(rev()) + "}");
    compare(R"({"create_request":{"key":")" + b("w") + R"(","start_revision":1}})", 2, false);
}

}  // namespace
}  // namespace gantry::kv
