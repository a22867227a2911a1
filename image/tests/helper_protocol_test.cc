#include "image/helper_protocol.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace gantry::image {
namespace {

const Digest kD = *Digest::parse("sha256:" + std::string(64, 'a'));

TEST(HelperProtocol, RoundTripsEachMessage) {
    std::string progress = format_progress("pulling layer");
    EXPECT_EQ(progress, "progress pulling layer\n");
    progress.pop_back();
    auto p = parse_helper_line(progress);
    EXPECT_EQ(p.kind, HelperMessage::Kind::kProgress);
    EXPECT_EQ(p.text, "pulling layer");
    auto d = parse_helper_line("");
    EXPECT_EQ(d.kind, HelperMessage::Kind::kProgress);  // an empty line is not a done
    std::string done = format_done(kD, "docker.io/library/x:1");
    done.pop_back();
    d = parse_helper_line(done);
    ASSERT_EQ(d.kind, HelperMessage::Kind::kDone);
    EXPECT_EQ(d.digest, kD);
    EXPECT_EQ(d.name, "docker.io/library/x:1");
    std::string err = format_error("image x: no such\nthing");
    err.pop_back();
    auto e = parse_helper_line(err);
    ASSERT_EQ(e.kind, HelperMessage::Kind::kError);
    EXPECT_EQ(e.text, "image x: no such thing");  // the newline inside became a space
}

TEST(HelperProtocol, ForeignAndMalformedLinesAreProgress) {
    EXPECT_EQ(parse_helper_line("libarchive: warning").kind, HelperMessage::Kind::kProgress);
    EXPECT_EQ(parse_helper_line("done sha256:zz name").kind, HelperMessage::Kind::kProgress);
    EXPECT_EQ(parse_helper_line("done " + kD.str()).kind, HelperMessage::Kind::kProgress);
}

TEST(HelperReport, AssemblesLinesAcrossChunks) {
    HelperReport r;
    std::string all = format_progress("step 1") + format_done(kD, "n:1");
    EXPECT_TRUE(r.feed(all.substr(0, 5)).empty());
    auto msgs = r.feed(all.substr(5, 20));
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].text, "step 1");
    msgs = r.feed(all.substr(25));
    ASSERT_EQ(msgs.size(), 1u);
    auto out = r.finish(0);
    ASSERT_TRUE(out) << out.error().str();
    EXPECT_EQ(out->name, "n:1");
}

TEST(HelperReport, ErrorLineIsTheMessage) {
    HelperReport r;
    r.feed(format_progress("pulling") + format_error("image y: manifest unknown"));
    auto out = r.finish(1);
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().str(), "image y: manifest unknown");
}

TEST(HelperReport, SuccessNeedsDoneAndExitZero) {
    HelperReport a;
    a.feed(format_done(kD, "n:1"));
    EXPECT_FALSE(a.finish(3));  // done, but the process failed after it
    HelperReport b;
    b.feed(format_progress("unpacking 2 of 2 layers"));
    auto out = b.finish(0);
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().str().find("without reporting"), std::string::npos);
}

TEST(HelperReport, KilledHelperSaysBySignalAndLastStep) {
    HelperReport r;
    r.feed("progress unpacking layer 1");  // no newline: cut off by the kill
    auto out = r.finish(-SIGKILL);
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().str().find("killed by signal 9"), std::string::npos);
    EXPECT_NE(out.error().str().find("unpacking layer 1"), std::string::npos);
}

TEST(HelperReport, RunawayLineIsCut) {
    HelperReport r;
    r.feed(std::string(100000, 'x'));
    EXPECT_LE(r.last_progress().size(), 4096u);
}

}  // namespace
}  // namespace gantry::image
