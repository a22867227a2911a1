#include "supervisor/log_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/fd.h"

namespace gantry::supervisor {
namespace {

constexpr int64_t kT = 1795000000LL * 1000000 + 123456;  // a fixed realtime in us

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/log_store_testXXXXXX";
        path_ = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(LogLine, FormatsAndParsesTimestamp) {
    std::string line = format_log_line(kT, Stream::Stderr, "boom");
    EXPECT_EQ(line, "2026-11-18T11:06:40.123456Z stderr boom");
    EXPECT_EQ(parse_log_time(line), kT);
    EXPECT_EQ(parse_log_time("not a log line"), -1);
}

TEST(ServiceLog, SplitsLinesAndBuffersPartial) {
    ServiceLog log("svc", "", {});
    std::vector<std::string> seen;
    log.on_line = [&](const std::string& l) { seen.push_back(l); };
    log.feed(Stream::Stdout, "one\ntw", kT);
    log.feed(Stream::Stdout, "o\nthree", kT);
    EXPECT_EQ(seen.size(), 2u);
    log.flush(kT);
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_TRUE(seen[1].ends_with("stdout two"));
    EXPECT_TRUE(seen[2].ends_with("stdout three"));
    EXPECT_EQ(log.tail(2, 0).size(), 2u);
    EXPECT_TRUE(log.tail(1, 0)[0].ends_with("three"));
}

TEST(ServiceLog, CutsEndlessLine) {
    ServiceLog log("svc", "", {});
    int lines = 0;
    log.on_line = [&](const std::string&) { lines++; };
    log.feed(Stream::Stdout, std::string(40 * 1024, 'x'), kT);
    EXPECT_EQ(lines, 2);  // two 16 KiB pieces stored, 8 KiB still buffered
}

TEST(ServiceLog, RingIsBounded) {
    ServiceLog log("svc", "", {}, /*ring_bytes=*/1000);
    for (int i = 0; i < 100; ++i) {
        log.feed(Stream::Stdout, fmt::format("line {}\n", i), kT);
    }
    auto lines = log.tail(0, 0);
    EXPECT_LT(lines.size(), 30u);
    EXPECT_TRUE(lines.back().ends_with("line 99"));
}

TEST(ServiceLog, RotatesBySize) {
    TempDir dir;
    ServiceLog log("web", dir.path(), {/*max_size=*/1000, /*max_files=*/3});
    ASSERT_TRUE(log.file_mode());
    for (int i = 0; i < 100; ++i) {
        log.feed(Stream::Stdout, fmt::format("message number {:03}\n", i), kT);
    }
    namespace fs = std::filesystem;
    std::string base = dir.path() + "/web.log";
    EXPECT_TRUE(fs::exists(base));
    EXPECT_TRUE(fs::exists(base + ".1"));
    EXPECT_TRUE(fs::exists(base + ".2"));
    EXPECT_FALSE(fs::exists(base + ".3"));
    EXPECT_LE(fs::file_size(base), 1000u);
    EXPECT_LE(fs::file_size(base + ".1"), 1000u);
    auto lines = log.tail(0, 0);
    EXPECT_TRUE(lines.back().ends_with("message number 099"));
    // Lines are in order across the rotated files.
    for (size_t i = 1; i < lines.size(); ++i) {
        EXPECT_LT(lines[i - 1].substr(lines[i - 1].size() - 3),
                  lines[i].substr(lines[i].size() - 3));
    }
}

// A reader that follows the live file by name (tail -F) never finds it missing: rotation
// links it as .1 and renames a fresh file over the name instead of moving it away first.
TEST(ServiceLog, LiveFileNeverMissingDuringRotation) {
    TempDir dir;
    ServiceLog log("web", dir.path(), {/*max_size=*/200, /*max_files=*/2});
    ASSERT_TRUE(log.file_mode());
    std::string base = dir.path() + "/web.log";
    std::atomic<bool> stop{false};
    std::atomic<long> misses{0}, looks{0};
    std::thread reader([&] {
        struct stat st;
        while (!stop) {
            if (::stat(base.c_str(), &st) != 0) {
                ++misses;
            }
            ++looks;
        }
    });
    for (int i = 0; i < 5000; ++i) {
        log.feed(Stream::Stdout, fmt::format("message number {:04}\n", i), kT);
    }
    stop = true;
    reader.join();
    EXPECT_GT(looks.load(), 0);
    EXPECT_EQ(misses.load(), 0) << "the live log file was missing during a rotation";
    namespace fs = std::filesystem;
    EXPECT_FALSE(fs::exists(base + ".new"));
    EXPECT_FALSE(fs::exists(base + ".2"));
    EXPECT_NE(fs::status(base).type(), fs::file_type::not_found);
    EXPECT_NE(fs::hard_link_count(base), 2u);  // .1 and the live file are two files
    auto lines = log.tail(0, 0);
    EXPECT_TRUE(lines.back().ends_with("message number 4999"));
}

TEST(ServiceLog, TailAndSince) {
    ServiceLog log("svc", "", {});
    log.feed(Stream::Stdout, "old\n", kT);
    log.feed(Stream::Stdout, "new\n", kT + 5000000);
    auto since = log.tail(0, kT + 1000000);
    ASSERT_EQ(since.size(), 1u);
    EXPECT_TRUE(since[0].ends_with("new"));
}

TEST(ServiceLog, RingMovesToFileOnAttach) {
    TempDir dir;
    ServiceLog log("svc", "", {});
    log.feed(Stream::Stdout, "early\n", kT);
    ASSERT_FALSE(log.file_mode());
    ASSERT_TRUE(log.attach_dir(dir.path()));
    log.feed(Stream::Stdout, "late\n", kT);
    auto text = read_file(dir.path() + "/svc.log");
    ASSERT_TRUE(text);
    EXPECT_NE(text->find("early"), std::string::npos);
    EXPECT_NE(text->find("late"), std::string::npos);
}

TEST(ServiceLog, CreatesMissingParents) {
    TempDir dir;
    ServiceLog log("svc", dir.path() + "/var/log/gantry", {});
    EXPECT_TRUE(log.file_mode());
}

TEST(ServiceLog, UnwritableDirFallsBackToMemory) {
    ServiceLog log("svc", "/proc/no/such/dir", {});
    EXPECT_FALSE(log.file_mode());
    log.feed(Stream::Stdout, "kept\n", kT);
    EXPECT_EQ(log.tail(0, 0).size(), 1u);
}

}  // namespace
}  // namespace gantry::supervisor
