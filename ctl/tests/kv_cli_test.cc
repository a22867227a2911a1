// `gantryctl kv` end to end: the real binary against a gantry-kv this test starts on a
// unix socket in a temp dir (in memory, no root). Each case gets a fresh store.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "kv/tests/server_fixture.h"

namespace gantry::kv::testing {
namespace {

struct CtlRun {
    int rc = -1;
    std::string out;  // stdout and stderr
};

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char ch : s) {
        out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    }
    return out + "'";
}

class KvCli : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = temp_dir("gantry-kv-cli");
        sock_ = dir_ + "/kv.sock";
        endpoint_ = "unix://" + sock_;
        kv_ = Child({GANTRY_KV_BIN, "--listen", "127.0.0.1:" + std::to_string(free_port()),
                     "--unix", sock_, "--data-dir", ""});
        ASSERT_TRUE(wait_ready(endpoint_, std::chrono::seconds(10))) << "gantry-kv never answered";
    }
    void TearDown() override {
        kv_.kill();
        std::filesystem::remove_all(dir_);
    }

    // gantryctl kv ARGS with the test's store in $GANTRY_KV_ENDPOINT; `in` goes to stdin.
    CtlRun ctl(const std::string& args, const std::string& in = "") {
        std::string cmd = "GANTRY_KV_ENDPOINT=" + quote(endpoint_) + " timeout 20 " +
                          quote(GANTRY_CTL_BIN) + " kv " + args + " 2>&1";
        if (!in.empty()) {
            cmd = "printf '%s' " + quote(in) + " | " + cmd;
        }
        CtlRun r;
        FILE* p = ::popen(cmd.c_str(), "r");
        char buf[4096];
        while (size_t n = std::fread(buf, 1, sizeof buf, p)) {
            r.out.append(buf, n);
        }
        int st = ::pclose(p);
        r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
    }

    std::string dir_, sock_, endpoint_;
    Child kv_;
};

// The lease ID in `lease grant`'s JSON answer.
std::string lease_id(const std::string& grant) {
    auto at = grant.find("\"ID\":\"");
    return at == std::string::npos ? "" : grant.substr(at + 6, grant.find('"', at + 6) - at - 6);
}

TEST_F(KvCli, PutGetDelWithPrefix) {
    EXPECT_EQ(ctl("put /app/a 1").rc, 0);
    EXPECT_EQ(ctl("put /app/b 'two words'").rc, 0);
    EXPECT_EQ(ctl("put /other x").rc, 0);
    CtlRun one = ctl("get /app/a");
    EXPECT_EQ(one.rc, 0);
    EXPECT_EQ(one.out, "/app/a=1\n");
    CtlRun all = ctl("get /app/ --prefix");
    EXPECT_EQ(all.out, "/app/a=1\n/app/b=two words\n");
    EXPECT_EQ(ctl("get /missing").out, "");
    CtlRun del = ctl("del /app/ --prefix");
    EXPECT_EQ(del.rc, 0);
    EXPECT_EQ(del.out, "2\n");
    EXPECT_EQ(ctl("get / --prefix").out, "/other=x\n");
}

TEST_F(KvCli, WatchStopsAfterCountOrTimeout) {
    // -n 2: the first two events after the watch started, then exit 0. The writes repeat
    // until the watcher ends, so a watcher that starts late (a loaded machine) still sees
    // a PUT and a DELETE, in one order or the other; the other key never shows.
    CtlRun watched;
    std::atomic<bool> done{false};
    std::thread t([&] {
        watched = ctl("watch /w/ --prefix -n 2");
        done = true;
    });
    for (int i = 0; !done && i < 100; ++i) {
        ctl("put /elsewhere 0");
        ctl("put /w/x 1");
        ctl("del /w/x");
    }
    t.join();
    EXPECT_EQ(watched.rc, 0) << watched.out;
    EXPECT_TRUE(watched.out == "PUT /w/x=1\nDELETE /w/x=\n" ||
                watched.out == "DELETE /w/x=\nPUT /w/x=1\n")
        << watched.out;

    auto t0 = std::chrono::steady_clock::now();
    CtlRun quiet = ctl("watch /w/ --prefix --timeout 300ms");
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(quiet.rc, 0) << quiet.out;
    EXPECT_EQ(quiet.out, "");
    EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(KvCli, LeaseGrantKeepaliveRevoke) {
    CtlRun grant = ctl("lease grant 30");
    ASSERT_EQ(grant.rc, 0) << grant.out;
    std::string id = lease_id(grant.out);
    ASSERT_FALSE(id.empty()) << grant.out;
    EXPECT_EQ(ctl("put /l/k v --lease " + id).rc, 0);
    CtlRun ka = ctl("lease keepalive " + id + " -n 1");
    EXPECT_EQ(ka.rc, 0) << ka.out;
    EXPECT_NE(ka.out.find("keepalived with TTL(30)"), std::string::npos) << ka.out;
    EXPECT_NE(ctl("lease ttl " + id).out.find(id), std::string::npos);
    EXPECT_NE(ctl("lease list").out.find(id), std::string::npos);
    EXPECT_EQ(ctl("lease revoke " + id).rc, 0);
    EXPECT_EQ(ctl("get /l/k").out, "");  // revoking deletes the lease's keys
    CtlRun gone = ctl("lease keepalive " + id + " -n 1");
    EXPECT_EQ(gone.rc, 1);
    EXPECT_NE(gone.out.find("expired or was revoked"), std::string::npos) << gone.out;
}

TEST_F(KvCli, TxnFromStdinAndData) {
    ctl("put /t/k old");
    // base64: "/t/k" = L3Qvaw==, "old" = b2xk, "new" = bmV3.
    std::string txn =
        R"({"compare":[{"key":"L3Qvaw==","target":"VALUE","result":"EQUAL","value":"b2xk"}],)"
        R"("success":[{"request_put":{"key":"L3Qvaw==","value":"bmV3"}}]})";
    CtlRun r = ctl("txn", txn);
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("\"succeeded\":true"), std::string::npos) << r.out;
    EXPECT_EQ(ctl("get /t/k").out, "/t/k=new\n");
    CtlRun again = ctl("txn --data " + quote(txn));  // compare fails now: value is "new"
    EXPECT_EQ(again.rc, 0);
    EXPECT_EQ(again.out.find("\"succeeded\":true"), std::string::npos) << again.out;
    CtlRun bad = ctl("txn --data '{not json'");
    EXPECT_EQ(bad.rc, 2);
    EXPECT_NE(bad.out.find("not a JSON object"), std::string::npos) << bad.out;
}

TEST_F(KvCli, BadInputIsAUsageError) {
    CtlRun unknown = ctl("get /a --prefx");
    EXPECT_EQ(unknown.rc, 2);
    EXPECT_NE(unknown.out.find("unknown option \"--prefx\""), std::string::npos) << unknown.out;
    EXPECT_NE(unknown.out.find("usage: gantryctl kv"), std::string::npos);
    CtlRun lease = ctl("put /a b --lease abc");
    EXPECT_EQ(lease.rc, 2);
    EXPECT_NE(lease.out.find("is not a lease ID"), std::string::npos) << lease.out;
    EXPECT_EQ(ctl("watch /a -n 0").rc, 2);
    EXPECT_EQ(ctl("watch /a --timeout soon").rc, 2);
    EXPECT_EQ(ctl("lease grant ten").rc, 2);
    EXPECT_EQ(ctl("frobnicate").rc, 2);
    EXPECT_EQ(ctl("get").rc, 2);
    EXPECT_EQ(ctl("").rc, 2);
    CtlRun help = ctl("--help");
    EXPECT_EQ(help.rc, 0);
    EXPECT_NE(help.out.find("lease keepalive ID"), std::string::npos);
}

TEST_F(KvCli, StoreDownSaysWhatWhereAndWhatToDo) {
    kv_.kill();
    CtlRun r = ctl("get /a");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("gantryctl kv get: "), std::string::npos) << r.out;  // what
    EXPECT_NE(r.out.find(sock_), std::string::npos) << r.out;                 // where
    EXPECT_NE(r.out.find("is gantry-kv running"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--endpoint"), std::string::npos) << r.out;  // what to do
    CtlRun tcp = ctl("--endpoint http://127.0.0.1:1 put /a b");
    EXPECT_EQ(tcp.rc, 1);
    EXPECT_NE(tcp.out.find("127.0.0.1:1"), std::string::npos) << tcp.out;
    EXPECT_EQ(ctl("watch /a --timeout 1s").rc, 1);  // down is an error, not a quiet watch
}

}  // namespace
}  // namespace gantry::kv::testing
