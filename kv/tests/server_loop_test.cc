// The server's loop run in-process: the housekeeping hook (where gantry-kv re-checks its
// CPU pinning) runs on the server's thread at its interval while the server keeps serving.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "kv/client.h"
#include "kv/server.h"

namespace gantry::kv {
namespace {

using namespace std::chrono_literals;

TEST(ServerLoop, HousekeepingRunsOnTheServerThreadAtItsInterval) {
    std::atomic<int> calls = 0;
    std::atomic<bool> on_server_thread = true;
    std::atomic<int> port = 0;
    std::thread::id server_thread;
    Status result = ok();
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration elapsed{};
    std::thread t([&] {
        server_thread = std::this_thread::get_id();
        ServerOptions o;
        o.listen = {"127.0.0.1:0"};
        o.unix_path.clear();
        o.data_dir.clear();
        o.housekeeping_interval = 20ms;
        o.housekeeping = [&] {
            on_server_thread = on_server_thread && std::this_thread::get_id() == server_thread;
            if (++calls == 5) {
                elapsed = std::chrono::steady_clock::now() - start;
                ::raise(SIGTERM);  // blocked on this thread by create(): the loop's signalfd
            }
        };
        auto s = Server::create(o);
        if (!s) {
            result = fail(s.error());
            port = -1;
            return;
        }
        port = (*s)->ports().at(0);
        result = (*s)->run();
    });
    while (port == 0) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_GT(port, 0) << result.error().str();
    // It serves between housekeeping calls.
    Client c("127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(c.put("k", "v"));
    t.join();
    EXPECT_TRUE(result) << result.error().str();
    EXPECT_EQ(calls, 5);
    EXPECT_TRUE(on_server_thread);
    EXPECT_GE(elapsed, 100ms);  // five intervals of 20 ms, the first one after run() starts
}

}  // namespace
}  // namespace gantry::kv
