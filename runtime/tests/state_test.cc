#include "runtime/state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace gantry::runtime {
namespace {

TEST(ProcStat, ParsesCommWithSpacesAndParens) {
    std::string text =
        "42 (a b) (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
        "123456 1000 10 18446744073709551615\n";
    auto ps = parse_proc_stat(text);
    ASSERT_TRUE(ps) << ps.error().str();
    EXPECT_EQ(ps->state, 'S');
    EXPECT_EQ(ps->start_time, 123456u);
    EXPECT_FALSE(parse_proc_stat("42 (x"));
}

TEST(ContainerId, Validation) {
    EXPECT_TRUE(validate_container_id("web-1.a_b"));
    EXPECT_FALSE(validate_container_id(""));
    EXPECT_FALSE(validate_container_id(".."));
    EXPECT_FALSE(validate_container_id("a/b"));
}

TEST(StateDir, ReserveSaveLoadList) {
    char tmpl[] = "/tmp/gantry-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    StateDir sd(std::string(tmpl) + "/root");
    ASSERT_TRUE(sd.reserve("c1"));
    auto again = sd.reserve("c1");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().str(), "container \"c1\" already exists");
    auto missing = sd.load("nope");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().str(), "container \"nope\" does not exist");

    ContainerState st;
    st.oci_version = "1.2.0";
    st.id = "c1";
    st.pid = ::getpid();
    st.start_time = process_start_time(::getpid());
    st.bundle = "/b";
    st.annotations["k"] = "v";
    ASSERT_TRUE(sd.save(st));
    auto back = sd.load("c1");
    ASSERT_TRUE(back) << back.error().str();
    EXPECT_EQ(back->pid, st.pid);
    EXPECT_EQ(back->annotations.at("k"), "v");
    EXPECT_EQ(sd.status(*back), "running");  // we are alive, no start.sock
    back->start_time += 1;                   // a reused pid
    EXPECT_EQ(sd.status(*back), "stopped");
    auto j = st.oci_json("running");
    EXPECT_EQ(j["status"], "running");
    EXPECT_EQ(j["pid"], ::getpid());
    EXPECT_FALSE(j.contains("gantry.startTime"));
    EXPECT_FALSE(st.oci_json("stopped").contains("pid"));
    auto ids = sd.list();
    ASSERT_TRUE(ids);
    EXPECT_EQ(*ids, std::vector<std::string>{"c1"});
    ASSERT_TRUE(sd.remove("c1"));
    EXPECT_TRUE(sd.list()->empty());
    ::rmdir(sd.root().c_str());
    ::rmdir(tmpl);
}

}  // namespace
}  // namespace gantry::runtime
