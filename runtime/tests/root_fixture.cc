#include "runtime/tests/root_fixture.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "base/fd.h"
#include "runtime/default_spec.h"
#include "runtime/security_steps.h"

namespace gantry::runtime::testing {

namespace {

int rm_entry(const char* path, const struct stat*, int, struct FTW*) {
    ::remove(path);
    return 0;
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary);
    out << in.rdbuf();
    out.close();
    ::chmod(to.c_str(), mode);
}

}  // namespace

std::string host_ns(const char* name) {
    char buf[128];
    std::string p = std::string("/proc/self/ns/") + name;
    ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

std::string read_pipe_all(int fd) {
    auto r = read_all(fd);
    return r ? *r : std::string();
}

void RootTest::SetUp() {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (namespaces, mounts)";
    }
    if (::access("/bin/busybox", X_OK) != 0) {
        GTEST_SKIP() << "needs /bin/busybox (Debian busybox-static)";
    }
    // Containers made by `gantry-oci create` outlive the CLI; as a subreaper we reap them
    // instead of leaving them to a pid 1 that may not.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    char tmpl[] = "/tmp/gantry-rt-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // user-namespace tests map root to an unprivileged uid
    bundle_ = dir_ + "/b";
    rootfs_ = bundle_ + "/rootfs";
    ASSERT_EQ(::mkdir(bundle_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(rootfs_.c_str(), 0755), 0);
    for (const char* d : {"/bin", "/tmp", "/etc", "/data"}) {
        ::mkdir((rootfs_ + d).c_str(), 0755);
    }
    ::chmod((rootfs_ + "/tmp").c_str(), 01777);
    copy_file("/bin/busybox", rootfs_ + "/bin/busybox", 0755);
    copy_file(GANTRY_PROBE_BIN, rootfs_ + "/bin/probe", 0755);
    for (const char* applet :
         {"sh", "true", "false", "sleep", "cat", "echo", "ls", "mkdir", "id", "hostname"}) {
        ASSERT_EQ(::symlink("busybox", (rootfs_ + "/bin/" + applet).c_str()), 0);
    }
}

void RootTest::TearDown() {
    if (!dir_.empty()) {
        // FTW_MOUNT: never walk into something still mounted (there should be nothing: the
        // containers' mounts live in their own namespaces).
        ::nftw(dir_.c_str(), rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
}

nlohmann::json RootTest::base_spec(std::vector<std::string> args) const {
    DefaultSpecOptions o;
    o.security = security_built();
    nlohmann::json j = default_spec(o);
    j["process"]["args"] = args;
    return j;
}

void RootTest::write_config(const nlohmann::json& spec) const {
    std::ofstream(bundle_ + "/config.json") << spec.dump(2);
}

std::string RootTest::id(const std::string& suffix) const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return fmt::format("{}-{}{}", info->name(), ::getpid(), suffix);
}

Result<RootTest::Run> RootTest::run(const nlohmann::json& j) {
    Spec spec = GANTRY_TRY(parse_spec_json(j));
    spec.root.path = bundle_ + "/" + spec.root.path;
    auto out = GANTRY_TRY(make_pipe());
    ContainerOptions opts;
    opts.id = id();
    opts.bundle = bundle_;
    opts.stdout_fd = out.write.get();
    Container c = GANTRY_TRY(Container::create(spec, opts));
    out.write.reset();
    GANTRY_TRY(c.start());
    Run r;
    r.out = read_pipe_all(out.read.get());
    r.status = GANTRY_TRY(c.wait());
    GANTRY_TRY(c.destroy());
    return r;
}

nlohmann::json RootTest::probe(nlohmann::json spec, std::vector<std::string> probe_args) {
    probe_args.insert(probe_args.begin(), "/bin/probe");
    spec["process"]["args"] = probe_args;
    auto r = run(spec);
    if (!r) {
        ADD_FAILURE() << r.error().str();
        return nlohmann::json::object();
    }
    EXPECT_TRUE(r->status.success()) << r->status.str();
    auto j = nlohmann::json::parse(r->out, nullptr, false);
    if (j.is_discarded()) {
        ADD_FAILURE() << "probe output is not JSON: " << r->out;
        return nlohmann::json::object();
    }
    return j;
}

void expect_probe_settings(const nlohmann::json& p) {
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(p["uid"], 1000);
    EXPECT_EQ(p["euid"], 1000);
    EXPECT_EQ(p["gid"], 1001);
    EXPECT_EQ(p["groups"], nlohmann::json({5, 6}));
    EXPECT_EQ(p["umask"], 027);
    EXPECT_EQ(p["nofile_soft"], 100);
    EXPECT_EQ(p["nofile_hard"], 200);
    EXPECT_EQ(p["cwd"], "/data");
    EXPECT_EQ(p["oom_score_adj"], 500);
    EXPECT_EQ(p["cap_eff"], "0000000000000000");
    EXPECT_NE(std::find(p["env"].begin(), p["env"].end(), "FOO=bar"), p["env"].end());
}

}  // namespace gantry::runtime::testing
