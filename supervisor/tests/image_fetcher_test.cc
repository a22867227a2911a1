// ImageFetcher on a real event loop, with stand-in helpers (a missing binary, a shell
// script speaking the protocol): one run per image, errors and results reach every waiter.
#include "supervisor/image_fetcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace gantry::supervisor {
namespace {

using namespace std::chrono_literals;

struct Dir {
    Dir() {
        char t[] = "/tmp/gantry_fetchXXXXXX";
        path = ::mkdtemp(t);
    }
    ~Dir() { std::filesystem::remove_all(path); }
    std::string path;
};

// Runs the loop until `n` callbacks arrived (or 10 s).
void pump(EventLoop& loop, const int& got, int n) {
    for (int i = 0; i < 1000 && got < n; ++i) {
        ASSERT_TRUE(loop.run_once(10ms));
    }
    ASSERT_EQ(got, n);
}

TEST(ImageFetcher, MissingHelperIsAClearErrorForEveryWaiter) {
    Dir d;
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    ImageFetcher f({d.path + "/store", d.path + "/no-such-helper", image::PullPolicy::kMissing});
    std::vector<Status> results;
    int got = 0;
    auto done = [&](Status st) {
        results.push_back(std::move(st));
        ++got;
    };
    ASSERT_TRUE(f.fetch(*loop, "app:1", done));
    ASSERT_TRUE(f.fetch(*loop, "app:1", done));  // joins the first run
    EXPECT_EQ(f.runs_started(), 1);
    pump(*loop, got, 2);
    for (const auto& r : results) {
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().str().find("cannot run the image helper"), std::string::npos)
            << r.error().str();
        EXPECT_NE(r.error().str().find("no-such-helper"), std::string::npos);
    }
    EXPECT_FALSE(f.ready("app:1"));
}

TEST(ImageFetcher, HelperErrorLineAndProgressReachTheCaller) {
    Dir d;
    std::string helper = d.path + "/helper";
    std::ofstream(helper) << "#!/bin/sh\necho \"progress pulling $6\"\nsleep 0.3\n"
                          << "echo \"error image $6: manifest unknown\"\nexit 1\n";
    ::chmod(helper.c_str(), 0755);
    auto loop = EventLoop::create();
    ImageFetcher f({d.path + "/store", helper, image::PullPolicy::kMissing});
    int got = 0;
    Status result = ok();
    ASSERT_TRUE(f.fetch(*loop, "web:2", [&](Status st) {
        result = std::move(st);
        ++got;
    }));
    for (int i = 0; i < 100 && f.progress("web:2").empty(); ++i) {
        ASSERT_TRUE(loop->run_once(10ms));
    }
    EXPECT_EQ(f.progress("web:2"), "pulling web:2");
    pump(*loop, got, 1);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().str(), "image web:2: manifest unknown");
    // A second fetch after the first ended is a new run.
    ASSERT_TRUE(f.fetch(*loop, "web:2", [&](Status) { ++got; }));
    EXPECT_EQ(f.runs_started(), 2);
    pump(*loop, got, 2);
}

TEST(ImageFetcher, TransportRefsAreNotInTheStoreUntilImported) {
    Dir d;
    auto store = image::Store::open(d.path + "/store");
    ASSERT_TRUE(store);
    auto r = load_local(*store, "oci:/some/layout:1");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ENOENT);
    auto n = load_local(*store, "redis:7");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code(), ENOENT);
    EXPECT_TRUE(is_transport_ref("docker-archive:/x.tar"));
    EXPECT_FALSE(is_transport_ref("registry:5000/x"));
}

}  // namespace
}  // namespace gantry::supervisor
