#include "runtime/mount_plan.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/child.h"
#include "runtime/default_spec.h"

namespace gantry::runtime {
namespace {

using K = MountStep::Kind;

Spec spec_from(const nlohmann::json& j) {
    auto r = parse_spec_json(j);
    EXPECT_TRUE(r) << r.error().str();
    return r ? *r : Spec{};
}

std::vector<K> kinds(const MountPlan& p) {
    std::vector<K> out;
    for (const auto& s : p.steps) {
        out.push_back(s.kind);
    }
    return out;
}

TEST(MountPlan, DefaultSpecOrder) {
    Spec s = spec_from(default_spec());
    auto plan = MountPlan::build(s, "/b", "/b/rootfs");
    ASSERT_TRUE(plan) << plan.error().str();
    std::vector<K> want = {K::RootPropagation, K::BindRootfs};
    for (int i = 0; i < 7; i++) {
        want.push_back(K::Mount);
    }
    for (int i = 0; i < 6; i++) {
        want.push_back(K::Device);  // the runtime-spec default devices
    }
    for (int i = 0; i < 6; i++) {
        want.push_back(K::Symlink);
    }
    want.push_back(K::PivotRoot);
    for (int i = 0; i < 11; i++) {
        want.push_back(K::Mask);
    }
    for (int i = 0; i < 5; i++) {
        want.push_back(K::ReadonlyPath);
    }
    want.push_back(K::RemountRootReadonly);
    EXPECT_EQ(kinds(*plan), want);
    EXPECT_EQ(plan->steps[0].flags, static_cast<unsigned long>(MS_SLAVE | MS_REC));
    EXPECT_EQ(plan->steps[1].source, "/b/rootfs");
    EXPECT_EQ(plan->steps[2].target, "proc");
    EXPECT_EQ(plan->steps[2].fstype, "proc");
    EXPECT_EQ(plan->steps[2].flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV));
    EXPECT_EQ(plan->steps[3].target, "dev");
    EXPECT_EQ(plan->steps[3].data, "mode=755,size=65536k");
    EXPECT_EQ(plan->steps[4].target, "dev/pts");
    // "cgroup" means the unified hierarchy in Gantry.
    EXPECT_EQ(plan->steps[8].fstype, "cgroup2");
    EXPECT_EQ(plan->steps[8].flags & MS_RDONLY, static_cast<unsigned long>(MS_RDONLY));
    const MountStep& null_dev = plan->steps[9];
    EXPECT_EQ(null_dev.target, "dev/null");
    EXPECT_EQ(null_dev.mode, static_cast<mode_t>(S_IFCHR | 0666));
    EXPECT_EQ(null_dev.dev, makedev(1, 3));
    EXPECT_EQ(plan->steps[15].target, "dev/fd");
    EXPECT_EQ(plan->steps[15].source, "/proc/self/fd");
    // After pivot_root paths are absolute in the container.
    EXPECT_EQ(plan->steps[22].target, "/proc/acpi");
    EXPECT_EQ(plan->steps[22].describe(), "linux.maskedPaths[0] (/proc/acpi)");
}

TEST(MountPlan, NeedsMountNamespace) {
    auto j = default_spec();
    j["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "uts"}}};
    Spec s = spec_from(j);
    auto plan = MountPlan::build(s, "/b", "/b/rootfs");
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().str().find("needs a mount namespace"), std::string::npos);
}

TEST(MountPlan, RejectsRelativeRootfs) {
    Spec s = spec_from(default_spec());
    EXPECT_FALSE(MountPlan::build(s, "/b", "rootfs"));
}

TEST(MountPlan, BindMountsRemountForFlags) {
    auto j = default_spec();
    j["mounts"] = {{{"destination", "/data"},
                    {"type", "bind"},
                    {"source", "vol"},
                    {"options", {"rbind", "ro", "nosuid", "rprivate"}}}};
    Spec s = spec_from(j);
    auto plan = MountPlan::build(s, "/b", "/b/rootfs");
    ASSERT_TRUE(plan) << plan.error().str();
    const MountStep& m = plan->steps[2];
    EXPECT_EQ(m.kind, K::Mount);
    EXPECT_TRUE(m.bind);
    EXPECT_EQ(m.source, "/b/vol");  // relative sources are relative to the bundle
    EXPECT_EQ(m.flags, static_cast<unsigned long>(MS_BIND | MS_REC));
    EXPECT_EQ(m.remount_flags,
              static_cast<unsigned long>(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID));
    EXPECT_EQ(m.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
    EXPECT_EQ(m.describe(), "mounts[0] (bind on /data)");
    // No /dev tmpfs in this spec: no default devices, no /dev symlinks.
    EXPECT_EQ(plan->steps[3].kind, K::PivotRoot);
}

TEST(MountPlan, PlainBindHasNoRemount) {
    auto j = default_spec();
    j["mounts"] = {
        {{"destination", "/data"}, {"type", "none"}, {"source", "/srv"}, {"options", {"bind"}}}};
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->steps[2].flags, static_cast<unsigned long>(MS_BIND));
    EXPECT_EQ(plan->steps[2].remount_flags, 0u);
}

TEST(MountPlan, BindNeedsSource) {
    auto j = default_spec();
    j["mounts"] = {{{"destination", "/data"}, {"type", "bind"}}};
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().str(), "mounts[0].source: a bind mount needs a source");
}

TEST(MountPlan, MountOverRootIsRefused) {
    auto j = default_spec();
    j["mounts"] = {{{"destination", "/"}, {"type", "tmpfs"}}};
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().str().find("mounting over / is not supported"), std::string::npos);
}

TEST(MountPlan, UnsupportedOptionNamesIt) {
    auto j = default_spec();
    j["mounts"] = {
        {{"destination", "/x"}, {"type", "tmpfs"}, {"options", {"nosuid", "tmpcopyup"}}}};
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().str(),
              "mounts[0].options[1]: \"tmpcopyup\" is not supported by gantry-oci");
}

TEST(MountPlan, SpecDeviceOverridesDefault) {
    auto j = default_spec();
    j["linux"]["devices"] = {{{"path", "/dev/null"},
                              {"type", "c"},
                              {"major", 1},
                              {"minor", 3},
                              {"fileMode", 0600},
                              {"uid", 5},
                              {"gid", 6}},
                             {{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}}};
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_TRUE(plan);
    int nulls = 0;
    for (const auto& s : plan->steps) {
        if (s.kind == K::Device && s.target == "dev/null") {
            nulls++;
            EXPECT_EQ(s.mode, static_cast<mode_t>(S_IFCHR | 0600));
            EXPECT_EQ(s.uid, 5u);
            EXPECT_EQ(s.spec_index, 0);
        }
        if (s.kind == K::Device && s.target == "dev/fuse") {
            EXPECT_EQ(s.describe(), "linux.devices[1] (/dev/fuse)");
        }
    }
    EXPECT_EQ(nulls, 1);
}

TEST(MountPlan, PropagationAndSysctlSteps) {
    auto j = default_spec();
    j["linux"]["rootfsPropagation"] = "rshared";
    j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    j["root"]["readonly"] = false;
    auto plan = MountPlan::build(spec_from(j), "/b", "/b/rootfs");
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->steps[0].flags, static_cast<unsigned long>(MS_SHARED | MS_REC));
    size_t pivot = 0;
    for (size_t i = 0; i < plan->steps.size(); i++) {
        if (plan->steps[i].kind == K::PivotRoot) {
            pivot = i;
        }
    }
    EXPECT_EQ(plan->steps[pivot + 1].kind, K::SetPropagation);
    // Sysctls are written before /proc/sys turns read-only.
    EXPECT_EQ(plan->steps[pivot + 2].kind, K::Sysctls);
    EXPECT_EQ(plan->steps.back().kind, K::ReadonlyPath);
}

TEST(MountOptions, FlagsClearAndData) {
    auto o = parse_mount_options({"ro", "rw", "nosuid", "size=1m", "mode=755", "rslave"}, "m");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID));
    EXPECT_EQ(o->clear, static_cast<unsigned long>(MS_RDONLY));
    EXPECT_EQ(o->data, "size=1m,mode=755");
    EXPECT_EQ(o->propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
    EXPECT_FALSE(parse_mount_options({"a,b"}, "m"));
}

}  // namespace
}  // namespace gantry::runtime

namespace gantry::runtime {
namespace {

TEST(ChildError, NamesTheStepAndTheMount) {
    Spec s = spec_from(default_spec());
    auto plan = MountPlan::build(s, "/b", "/b/rootfs");
    ASSERT_TRUE(plan);
    ChildMsg m;
    m.kind = ChildMsg::kError;
    m.step = static_cast<int32_t>(ChildStep::Mount);
    m.index = 2;  // mounts[0], /proc
    m.err = EXDEV;
    Error e = child_error(m, &*plan);
    EXPECT_EQ(e.code(), EXDEV);
    EXPECT_EQ(e.message(),
              "mount: mounts[0] (proc on /proc) (the path leads outside the rootfs, through a "
              "symlink or \"..\")");
    m.step = static_cast<int32_t>(ChildStep::Exec);
    m.index = -1;
    m.err = ENOENT;
    EXPECT_EQ(child_error(m, nullptr).str(), "execve process.args[0]: No such file or directory");
}

}  // namespace
}  // namespace gantry::runtime
