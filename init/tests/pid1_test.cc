// The pure parts of PID 1's pieces: module lists, JSON strings, finding a virtio port.
#include "init/pid1.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "base/fd.h"
#include "init/pid1_events.h"
#include "init/pid1_modules.h"

namespace gantry::init {
namespace {

TEST(Pid1Modules, ParsesListsWithCommentsAndBlanks) {
    EXPECT_EQ(parse_module_list("# early\n/a.ko\n\n  /b.ko  \n#x\n"),
              (std::vector<std::string>{"/a.ko", "/b.ko"}));
    EXPECT_TRUE(parse_module_list("").empty());
}

TEST(Pid1Modules, MissingFileIsAFailureNotACrash) {
    auto r = load_modules({"/nonexistent/x.ko"});
    EXPECT_EQ(r.loaded, 0);
    ASSERT_EQ(r.failed.size(), 1u);
    EXPECT_NE(r.failed[0].find("/nonexistent/x.ko"), std::string::npos);
}

TEST(Pid1Events, JsonStringsAreEscaped) {
    EXPECT_EQ(json_str("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

TEST(Pid1Events, FindsAPortByItsSysfsName) {
    namespace fs = std::filesystem;
    fs::path root = fs::temp_directory_path() / fmt::format("pid1-test-{}", ::getpid());
    fs::create_directories(root / "class/virtio-ports/vport0p1");
    fs::create_directories(root / "class/virtio-ports/vport0p2");
    ASSERT_TRUE(
        write_file_atomic((root / "class/virtio-ports/vport0p1/name").string(), "gantry.ctl\n"));
    ASSERT_TRUE(
        write_file_atomic((root / "class/virtio-ports/vport0p2/name").string(), "gantry.events\n"));
    EXPECT_EQ(find_virtio_port("gantry.events", root.string()), "/dev/vport0p2");
    EXPECT_EQ(find_virtio_port("gantry.ctl", root.string()), "/dev/vport0p1");
    EXPECT_EQ(find_virtio_port("nope", root.string()), "");
    fs::remove_all(root);
}

TEST(Pid1Events, NoPortMeansEventsGoNowhere) {
    EventChannel ch;
    EXPECT_FALSE(ch.connected());
    ch.emit("pid1");  // must not crash or block
}

}  // namespace
}  // namespace gantry::init
