// Config sources: their order, the data: form, config drives, and the last good config.
#include "cloud-config/sources.h"

#include <gtest/gtest.h>

#include "cloud-config/codec.h"
#include "cloud-config/tests/test_util.h"

namespace gantry::config {
namespace {

using testing::slurp;
using testing::TempDir;

const std::string kGood = "#cloud-config\nservices:\n  web:\n    image: nginx\n";
const std::string kOther = "#cloud-config\nhostname: other\n";
const std::string kBad = "#cloud-config\nservices:\n  web:\n    image: nginx\n    restart: nope\n";

SourcePaths paths_in(const TempDir& t) {
    SourcePaths p;
    p.cmdline = t / "proc/cmdline";
    p.fw_cfg = t / "fw_cfg/raw";
    p.state_dir = t / "var/lib/gantry";
    p.root = t.path();
    t.write("proc/cmdline", "console=ttyS0 quiet\n");
    return p;
}

// The init skips the config drive scan (and virtio_blk) when this says a source before
// the drives has a config: it must agree with find_source's order.
TEST(Sources, SourceBeforeDrives) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("drive/user-data", kGood);
    t.write("var/lib/gantry/config.yaml", kGood);
    p.config_drives = {t / "drive"};
    EXPECT_FALSE(has_source_before_drives(p));
    t.write("proc/cmdline", "console=ttyS0 gantry.config=data:eA==\n");
    EXPECT_TRUE(has_source_before_drives(p));
    EXPECT_EQ(find_source(p)->source.kind, SourceKind::kernel_cmdline);
    t.write("proc/cmdline", "console=ttyS0\n");
    t.write("fw_cfg/raw", kGood);
    EXPECT_TRUE(has_source_before_drives(p));
    EXPECT_EQ(find_source(p)->source.kind, SourceKind::fw_cfg);
}

TEST(Cmdline, FindsTheLastGantryConfig) {
    EXPECT_EQ(cmdline_config_value("ro gantry.config=/a x gantry.config=/b\n"), "/b");
    EXPECT_EQ(cmdline_config_value("a \"gantry.config=/with space\" b"), "/with space");
    EXPECT_FALSE(cmdline_config_value("gantry.configx=/a gantry=1"));
}

TEST(ConfigDrive, FindsNoCloudThenOpenStack) {
    TempDir t;
    EXPECT_FALSE(find_config_drive_file(t.path()));
    t.write("openstack/latest/user_data", kGood);
    EXPECT_EQ(find_config_drive_file(t.path()), t / "openstack/latest/user_data");
    t.write("user-data", kGood);
    EXPECT_EQ(find_config_drive_file(t.path()), t / "user-data");
}

TEST(Sources, OrderIsCmdlineFwCfgDrivePersisted) {
    TempDir t;
    SourcePaths p = paths_in(t);
    EXPECT_FALSE(find_source(p));

    t.write("var/lib/gantry/config.yaml", kGood);
    EXPECT_EQ(find_source(p)->source.kind, SourceKind::persisted);

    t.write("drive/user-data", kGood);
    p.config_drives = {t / "empty-drive", t / "drive"};
    EXPECT_EQ(find_source(p)->source.kind, SourceKind::config_drive);
    EXPECT_EQ(find_source(p)->source.location, t / "drive/user-data");

    t.write("fw_cfg/raw", kGood);
    EXPECT_EQ(find_source(p)->source.kind, SourceKind::fw_cfg);

    t.write("boot/my.yaml", kOther);
    t.write("proc/cmdline", "console=ttyS0 gantry.config=/boot/my.yaml\n");
    auto raw = find_source(p);
    EXPECT_EQ(raw->source.kind, SourceKind::kernel_cmdline);
    EXPECT_EQ(*raw->bytes, kOther);
}

TEST(Sources, CmdlineDataIsBase64) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("proc/cmdline", "gantry.config=data:" + base64_encode(kGood) + "\n");
    Loaded l = load_config(p);
    EXPECT_EQ(l.source.kind, SourceKind::kernel_cmdline);
    EXPECT_EQ(l.source.location, "kernel command line");
    EXPECT_EQ(l.config.services.size(), 1u);
}

TEST(Load, AcceptedConfigBecomesTheLastGoodOne) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("fw_cfg/raw", kGood);
    Loaded l = load_config(p);
    EXPECT_EQ(l.source.kind, SourceKind::fw_cfg);
    EXPECT_TRUE(l.refused_errors.empty());
    EXPECT_EQ(slurp(last_good_path(p)), kGood);
    EXPECT_EQ(l.message, "config from " + p.fw_cfg + " (fw_cfg)");
}

TEST(Load, ShowingTheConfigWritesNothing) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("fw_cfg/raw", kGood);
    Loaded l = load_config(p, /*keep_last_good=*/false);
    EXPECT_EQ(l.config.services.size(), 1u);
    EXPECT_FALSE(std::filesystem::exists(last_good_path(p)));
}

TEST(Load, RefusedConfigFallsBackToTheLastGoodOne) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("fw_cfg/raw", kGood);
    load_config(p);
    t.write("fw_cfg/raw", kBad);
    Loaded l = load_config(p);
    EXPECT_EQ(l.source.kind, SourceKind::last_good);
    EXPECT_EQ(l.refused.kind, SourceKind::fw_cfg);
    ASSERT_EQ(l.refused_errors.size(), 1u);
    EXPECT_EQ(l.refused_errors[0].line, 5);
    EXPECT_EQ(l.config.services.at(0).name, "web");
    EXPECT_EQ(l.message, "refused the config from " + p.fw_cfg +
                             " (1 error); booting the last good config from " + last_good_path(p));
    // The refused config never replaces the last good one.
    EXPECT_EQ(slurp(last_good_path(p)), kGood);
}

TEST(Load, RefusedWithNoLastGoodBootsEmptyAndSaysSo) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("fw_cfg/raw", kBad);
    Loaded l = load_config(p);
    EXPECT_EQ(l.source.kind, SourceKind::none);
    EXPECT_TRUE(l.config.services.empty());
    EXPECT_EQ(l.refused_errors.size(), 1u);
    EXPECT_NE(l.message.find("no last good config: booting with no services"), std::string::npos)
        << l.message;
}

TEST(Load, NothingAtAllBootsEmpty) {
    TempDir t;
    Loaded l = load_config(paths_in(t));
    EXPECT_EQ(l.source.kind, SourceKind::none);
    EXPECT_EQ(l.refused.kind, SourceKind::none);
    EXPECT_NE(l.message.find("no config found"), std::string::npos);
}

TEST(Load, MissingCmdlinePathIsARefusedConfig) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("proc/cmdline", "gantry.config=/nope.yaml");
    Loaded l = load_config(p);
    EXPECT_EQ(l.refused.kind, SourceKind::kernel_cmdline);
    ASSERT_EQ(l.refused_errors.size(), 1u);
    EXPECT_NE(l.refused_errors[0].message.find("No such file"), std::string::npos)
        << l.refused_errors[0].message;
}

TEST(Load, ScriptUserDataIsRefusedWithAClearMessage) {
    TempDir t;
    SourcePaths p = paths_in(t);
    t.write("drive/user-data", "#!/bin/sh\necho hi\n");
    p.config_drives = {t / "drive"};
    Loaded l = load_config(p);
    ASSERT_EQ(l.refused_errors.size(), 1u);
    EXPECT_EQ(l.refused_errors[0].str(),
              t / "drive/user-data" +
                  ": this user-data is a script; Gantry reads only a #cloud-config YAML file");
}

}  // namespace
}  // namespace gantry::config
