#include "runtime/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::runtime {

// Readable failures: gtest would print CgroupWrite as bytes.
void PrintTo(const CgroupWrite& w, std::ostream* os) {
    *os << "{" << w.file << "=\"" << w.value << "\" " << w.controller << " " << w.source << "}";
}

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kPath = "linux.resources";

CgroupPlan plan_of(const json& r, std::string_view cgroups_path = "/gantry/web") {
    auto p = plan_cgroup(r, cgroups_path, "web", kPath);
    EXPECT_TRUE(p) << p.error().str();
    return p ? *p : CgroupPlan{};
}

std::string plan_error(const json& r, std::string_view cgroups_path = "") {
    auto p = plan_cgroup(r, cgroups_path, "web", kPath);
    return p ? std::string("planned") : p.error().str();
}

TEST(CgroupPlan, ExactFilesAndValuesInOrder) {
    json r = {
        {"memory", {{"limit", 268435456}, {"reservation", 134217728}, {"swap", 536870912}}},
        {"cpu",
         {{"shares", 1024}, {"quota", 50000}, {"period", 100000}, {"cpus", "0-1"}, {"mems", "0"}}},
        {"pids", {{"limit", 256}}},
        {"blockIO",
         {{"weight", 500},
          {"throttleReadBpsDevice", {{{"major", 8}, {"minor", 0}, {"rate", 1048576}}}},
          {"throttleWriteIOPSDevice", {{{"major", 8}, {"minor", 0}, {"rate", 100}}}}}},
        {"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 4194304}}}},
        {"unified", {{"memory.high", "200000000"}}},
    };
    CgroupPlan p = plan_of(r);
    EXPECT_EQ(p.relative_path, "gantry/web");
    std::vector<CgroupWrite> want = {
        {"cpuset.cpus", "0-1", "cpuset", "linux.resources.cpu.cpus"},
        {"cpuset.mems", "0", "cpuset", "linux.resources.cpu.mems"},
        {"cpu.weight", "100", "cpu", "linux.resources.cpu.shares"},
        {"cpu.max", "50000 100000", "cpu", "linux.resources.cpu.quota"},
        {"memory.low", "134217728", "memory", "linux.resources.memory.reservation"},
        {"memory.max", "268435456", "memory", "linux.resources.memory.limit"},
        {"memory.swap.max", "268435456", "memory", "linux.resources.memory.swap"},
        {"pids.max", "256", "pids", "linux.resources.pids.limit"},
        {"io.weight", "default 4950", "io", "linux.resources.blockIO.weight"},
        {"io.max", "8:0 rbps=1048576 wiops=100", "io",
         "linux.resources.blockIO.throttleReadBpsDevice[0]"},
        {"hugetlb.2MB.max", "4194304", "hugetlb", "linux.resources.hugepageLimits[0].limit"},
        {"memory.high", "200000000", "memory", "linux.resources.unified[\"memory.high\"]"},
    };
    EXPECT_EQ(p.writes, want);
    EXPECT_EQ(p.controllers,
              (std::vector<std::string>{"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}));
    EXPECT_TRUE(p.requests_limits());
}

TEST(CgroupPlan, SharesToWeightFormula) {
    EXPECT_EQ(cpu_shares_to_weight(0), 0U);
    EXPECT_EQ(cpu_shares_to_weight(2), 1U);
    EXPECT_EQ(cpu_shares_to_weight(512), 59U);
    EXPECT_EQ(cpu_shares_to_weight(1024), 100U);  // the defaults map onto each other
    EXPECT_EQ(cpu_shares_to_weight(2048), 174U);
    EXPECT_EQ(cpu_shares_to_weight(262144), 10000U);
    EXPECT_EQ(cpu_shares_to_weight(1000000), 10000U);
    EXPECT_EQ(blkio_weight_to_io_weight(10), 1U);
    EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000U);
}

TEST(CgroupPlan, QuotaAndPeriod) {
    EXPECT_EQ(plan_of({{"cpu", {{"quota", 150000}}}}).writes.at(0).value, "150000 100000");
    EXPECT_EQ(plan_of({{"cpu", {{"period", 250000}}}}).writes.at(0).value, "max 250000");
    EXPECT_EQ(plan_of({{"cpu", {{"quota", 20000}, {"period", 50000}}}}).writes.at(0).value,
              "20000 50000");
    // -1 with the default period is the kernel's default: nothing to write.
    EXPECT_TRUE(plan_of({{"cpu", {{"quota", -1}}}}).writes.empty());
}

TEST(CgroupPlan, UnlimitedValuesAreNotLimitRequests) {
    CgroupPlan p = plan_of({{"memory", {{"limit", -1}, {"swap", -1}}}, {"pids", {{"limit", -1}}}});
    EXPECT_TRUE(p.writes.empty());
    EXPECT_FALSE(p.requests_limits());
    EXPECT_FALSE(plan_of(json(nullptr)).requests_limits());
}

TEST(CgroupPlan, CgroupsPath) {
    EXPECT_EQ(plan_of(json(nullptr), "").relative_path, "gantry/web");
    EXPECT_EQ(plan_of(json(nullptr), "/machine/a/").relative_path, "machine/a");
    EXPECT_EQ(plan_of(json(nullptr), "rel/b").relative_path, "rel/b");
    EXPECT_EQ(plan_error(json(nullptr), "system.slice:docker:abc"),
              "linux.cgroupsPath: \"system.slice:docker:abc\" is a systemd slice:prefix:name "
              "path; gantry manages cgroupfs paths such as \"/gantry/web\"");
    EXPECT_EQ(plan_error(json(nullptr), "/a/../b"),
              "linux.cgroupsPath: \"/a/../b\" must not contain . or .. components");
}

TEST(CgroupPlan, ErrorsNameTheJsonPath) {
    EXPECT_EQ(plan_error({{"memory", {{"limit", 1000}, {"swap", 500}}}}),
              "linux.resources.memory.swap: 500 is below memory.limit 1000 (OCI swap is the "
              "memory+swap total, so it must be at least the limit)");
    EXPECT_EQ(plan_error({{"memory", {{"swap", 500}}}}),
              "linux.resources.memory.swap: needs linux.resources.memory.limit too: OCI swap is "
              "the memory+swap total");
    EXPECT_EQ(plan_error({{"memory", {{"limit", -5}}}}),
              "linux.resources.memory.limit: -5 is negative (use -1 for unlimited)");
    EXPECT_EQ(plan_error({{"memory", {{"limit", "1G"}}}}),
              "linux.resources.memory.limit: must be an integer");
    EXPECT_EQ(plan_error({{"cpu", {{"realtimeRuntime", 950000}}}}),
              "linux.resources.cpu.realtimeRuntime: cgroup v2 has no real-time CPU bandwidth "
              "controller");
    EXPECT_EQ(plan_error({{"cpu", {{"quota", 500}}}}),
              "linux.resources.cpu.quota: 500 us is below the kernel's minimum of 1000");
    EXPECT_EQ(plan_error({{"cpu", {{"cpus", "0-3;5"}}}}),
              "linux.resources.cpu.cpus: must be a CPU list such as \"0-3,6\"");
    EXPECT_EQ(plan_error({{"hugepageLimits", {{{"pageSize", "2M"}, {"limit", 1}}}}}),
              "linux.resources.hugepageLimits[0].pageSize: \"2M\" is not a page size such as "
              "\"2MB\" or \"1GB\"");
    EXPECT_EQ(plan_error({{"unified", {{"cgroup.procs", "1"}}}}),
              "linux.resources.unified[\"cgroup.procs\"]: not a cgroup file a spec may set");
    EXPECT_EQ(plan_error({{"unified", {{"../memory.max", "1"}}}}),
              "linux.resources.unified[\"../memory.max\"]: not a cgroup file a spec may set");
}

TEST(CgroupPlan, V1OnlyFieldsBecomeWarnings) {
    CgroupPlan p = plan_of(
        {{"memory", {{"kernel", 1000}, {"swappiness", 10}}}, {"network", {{"classID", 1}}}});
    EXPECT_EQ(p.warnings.size(), 3U);
    EXPECT_TRUE(p.writes.empty());
}

// ---- apply, against a plain directory standing in for cgroupfs ----

class CgroupFixture : public testing::Test {
  protected:
    void SetUp() override {
        root_ = testing::TempDir() + "/cgroup-" + std::to_string(getpid()) + "-" +
                testing::UnitTest::GetInstance()->current_test_info()->name();
        fs::remove_all(root_);
        fs::create_directories(root_);
        put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    }
    void TearDown() override { fs::remove_all(root_); }
    void put(const std::string& rel, const std::string& text) {
        ASSERT_TRUE(write_file_atomic(root_ + "/" + rel, text));
    }
    std::string get(const std::string& rel) { return read_file(root_ + "/" + rel).value_or("?"); }

    std::string root_;
};

TEST_F(CgroupFixture, CreateWritesThePlanAndDelegatesControllers) {
    CgroupPlan p = plan_of({{"memory", {{"limit", 1048576}}}, {"pids", {{"limit", 10}}}});
    auto cg = Cgroup::create(p, root_, "");
    ASSERT_TRUE(cg) << cg.error().str();
    EXPECT_TRUE(cg->managed());
    EXPECT_EQ(cg->path(), root_ + "/gantry/web");
    EXPECT_GE(cg->dir_fd(), 0);
    EXPECT_EQ(get("cgroup.subtree_control"), "+memory +pids");
    EXPECT_EQ(get("gantry/cgroup.subtree_control"), "+memory +pids");
    EXPECT_EQ(get("gantry/web/memory.max"), "1048576");
    EXPECT_EQ(get("gantry/web/pids.max"), "10");
    EXPECT_EQ(*cg->read("memory.max"), "1048576");

    ASSERT_TRUE(cg->add_process(4242));
    EXPECT_EQ(get("gantry/web/cgroup.procs"), "4242");

    put("gantry/web/cgroup.kill", "0");
    ASSERT_TRUE(cg->kill_all());
    EXPECT_EQ(get("gantry/web/cgroup.kill"), "1");

    ASSERT_TRUE(cg->destroy());
    EXPECT_FALSE(fs::exists(root_ + "/gantry/web"));
    EXPECT_TRUE(fs::exists(root_ + "/gantry"));  // shared parent stays
}

TEST_F(CgroupFixture, KillAllWithoutCgroupKillFreezesAndSignalsEachPid) {
    auto cg = Cgroup::create(plan_of(json(nullptr)), root_, "");
    ASSERT_TRUE(cg) << cg.error().str();
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    put("gantry/web/cgroup.procs", fmt::format("{}\n", child));
    ASSERT_TRUE(cg->kill_all());
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_EQ(get("gantry/web/cgroup.freeze"), "0");  // thawed again
}

TEST_F(CgroupFixture, MissingControllerIsAClearError) {
    put("cgroup.controllers", "cpu pids\n");
    auto cg = Cgroup::create(plan_of({{"memory", {{"limit", 1048576}}}}), root_, "");
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().str(),
              fmt::format("cgroup v2 at {} does not offer the memory controller (available: cpu "
                          "pids); cannot enforce memory limit requested at "
                          "linux.resources.memory.limit",
                          root_));
}

TEST_F(CgroupFixture, RefusesALeafThatHasProcesses) {
    fs::create_directories(root_ + "/gantry/web");
    put("gantry/web/cgroup.procs", "77\n");
    auto cg = Cgroup::create(plan_of(json(nullptr)), root_, "");
    ASSERT_FALSE(cg);
    EXPECT_NE(cg.error().str().find("already exists and has processes in it (77)"),
              std::string::npos);
}

TEST_F(CgroupFixture, HybridHostErrorAndReport) {
    // A fake host: cgroup v1 hierarchies, a hybrid cgroup2 holding only hugetlb, nothing at
    // the root we ask for.
    fs::create_directories(root_ + "/unified");
    put("unified/cgroup.controllers", "hugetlb\n");
    fs::remove(root_ + "/cgroup.controllers");
    std::string mountinfo = fmt::format(
        "30 22 0:27 / {0} rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "31 30 0:28 / {0}/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "34 30 0:31 / {0}/memory rw,relatime - cgroup cgroup rw,memory\n"
        "37 30 0:34 / {0}/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        "40 30 0:37 / {0}/unified rw,relatime - cgroup2 cgroup2 rw\n",
        root_);
    auto cg = Cgroup::create(plan_of({{"memory", {{"limit", 1048576}}}}), root_, mountinfo);
    ASSERT_FALSE(cg);
    EXPECT_EQ(cg.error().str(),
              fmt::format("cgroup v2 is not mounted at {0} (this host has cgroup v1 with a hybrid "
                          "cgroup2 at {0}/unified holding only: hugetlb); cannot enforce memory "
                          "limit requested at linux.resources.memory.limit",
                          root_));

    // No limit asked: run unmanaged instead of failing.
    auto none = Cgroup::create(plan_of(json(nullptr)), root_, mountinfo);
    ASSERT_TRUE(none) << none.error().str();
    EXPECT_FALSE(none->managed());
    EXPECT_TRUE(none->add_process(1));
    EXPECT_TRUE(none->kill_all());
    EXPECT_TRUE(none->destroy());

    auto report = host_cgroup_support_report(mountinfo, root_);
    ASSERT_TRUE(report);
    EXPECT_NE(report->find("memory   NOT enforceable: held by a cgroup v1 hierarchy"),
              std::string::npos)
        << *report;
    EXPECT_NE(report->find(fmt::format("hugetlb  NOT enforceable: only in the hybrid cgroup2 at "
                                       "{}/unified",
                                       root_)),
              std::string::npos)
        << *report;
    EXPECT_NE(report->find("io       NOT enforceable: held by a cgroup v1"), std::string::npos);
}

TEST(CgroupHost, ThisHostsRealMountinfo) {
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
        GTEST_SKIP() << "this host has cgroup v2 at /sys/fs/cgroup; the error path needs one "
                        "without (the shared dev machines have v1 + hybrid)";
    }
    CgroupPlan p = plan_of({{"memory", {{"limit", 64 << 20}}}});
    auto cg = Cgroup::create(p);
    ASSERT_FALSE(cg);
    std::string msg = cg.error().str();
    EXPECT_TRUE(msg.starts_with("cgroup v2 is not mounted at /sys/fs/cgroup (")) << msg;
    EXPECT_TRUE(
        msg.ends_with("); cannot enforce memory limit requested at "
                      "linux.resources.memory.limit"))
        << msg;
    if (fs::exists("/sys/fs/cgroup/unified/cgroup.controllers")) {
        EXPECT_NE(msg.find("a hybrid cgroup2 at /sys/fs/cgroup/unified holding"), std::string::npos)
            << msg;
    }
    auto report = host_cgroup_support_report(*read_file("/proc/self/mountinfo"), "/sys/fs/cgroup");
    ASSERT_TRUE(report);
    EXPECT_NE(report->find("memory   NOT enforceable"), std::string::npos) << *report;
}

TEST(CgroupHost, RealCgroup2AddKillDestroy) {
    // The hybrid cgroup2 mount holds no limits we use, but membership, cgroup.kill and rmdir
    // are real kernel behaviour, so prove them there.
    std::string root = "/sys/fs/cgroup/unified";
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
        root = "/sys/fs/cgroup";
    }
    if (geteuid() != 0 || !fs::exists(root + "/cgroup.procs")) {
        GTEST_SKIP() << "needs root and a cgroup2 mount at /sys/fs/cgroup or its /unified";
    }
    std::string rel = fmt::format("gantry-sec-test-{}", getpid());
    auto plan = plan_cgroup(json(nullptr), "/" + rel + "/c1", "c1", kPath);
    ASSERT_TRUE(plan);
    auto cg = Cgroup::create(*plan, root);
    if (!cg && cg.error().code() == EACCES) {
        GTEST_SKIP() << "cgroup2 at " << root << " is not writable here: " << cg.error().str();
    }
    ASSERT_TRUE(cg) << cg.error().str();
    ASSERT_TRUE(cg->managed());
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    ASSERT_TRUE(cg->add_process(child)) << "add_process";
    EXPECT_EQ(trim(*cg->read("cgroup.procs")), fmt::to_string(child));
    ASSERT_TRUE(cg->kill_all());
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    auto destroyed = cg->destroy();
    EXPECT_TRUE(destroyed) << destroyed.error().str();
    EXPECT_FALSE(fs::exists(root + "/" + rel + "/c1"));
    rmdir((root + "/" + rel).c_str());
}

}  // namespace
}  // namespace gantry::runtime
