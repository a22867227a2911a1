#include "init/bridge_lines.h"

#include <gtest/gtest.h>

#include "supervisor/api_client.h"

namespace gantry::init {
namespace {

const std::string kMarker = std::string(supervisor::kSessionStart) + "\n";

// Renders pieces as text: "|" for a new session, the bytes otherwise.
std::string render(const std::vector<BridgeLines::Piece>& pieces) {
    std::string s;
    for (const auto& p : pieces) {
        s += p.new_session ? "|" : p.bytes;
    }
    return s;
}

TEST(BridgeLines, MarkerStartsASessionAndIsNotForwarded) {
    BridgeLines b;
    EXPECT_EQ(render(b.feed(kMarker + "{\"cmd\":\"ps\"}\n")), "|{\"cmd\":\"ps\"}\n");
}

TEST(BridgeLines, SecondClientAfterAStreamGetsItsOwnSession) {
    BridgeLines b;
    std::string stream = kMarker + "{\"cmd\":\"logs\",\"follow\":true}\n";
    std::string next = kMarker + "{\"cmd\":\"ps\"}\n";
    EXPECT_EQ(render(b.feed(stream + next)),
              "|{\"cmd\":\"logs\",\"follow\":true}\n|{\"cmd\":\"ps\"}\n");
}

TEST(BridgeLines, LinesSplitAcrossReadsWaitForTheirEnd) {
    BridgeLines b;
    std::string all = kMarker + "{\"cmd\":\"ps\"}\n";
    std::string got;
    for (char c : all) {
        got += render(b.feed(std::string_view(&c, 1)));
    }
    EXPECT_EQ(got, "|{\"cmd\":\"ps\"}\n");
    EXPECT_TRUE(b.feed("{\"cmd\"").empty());
    EXPECT_EQ(render(b.feed(":\"ps\"}\r\n")), "{\"cmd\":\"ps\"}\r\n");
}

TEST(BridgeLines, MarkerOnlyAsAWholeLine) {
    BridgeLines b;
    std::string inside = "{\"x\":" + std::string(supervisor::kSessionStart) + "}\n";
    EXPECT_EQ(render(b.feed(inside)), inside);
    EXPECT_EQ(render(b.feed(std::string(supervisor::kSessionStart) + "\r\n")), "|");
}

TEST(BridgeLines, OverlongLineIsPassedOnNotHeld) {
    BridgeLines b;
    std::string big(BridgeLines::kMaxLine + 10, 'a');
    EXPECT_EQ(render(b.feed(big)), big);
    EXPECT_EQ(render(b.feed(std::string(5, 'b'))), "bbbbb");
    // Its end is passed on too, and the marker after it is seen again.
    EXPECT_EQ(render(b.feed("c\n" + kMarker)), "c\n|");
}

}  // namespace
}  // namespace gantry::init
