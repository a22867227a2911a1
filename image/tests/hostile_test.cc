// A corpus of hostile layer tarballs, generated here with libarchive's writer. Each must
// be refused (an error naming the entry) or neutralised, and nothing may appear outside
// the target directory.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "image/fsutil.h"
#include "image/tests/test_util.h"
#include "image/unpack.h"

namespace gantry::image {
namespace {

using testing::TarBuilder;
using testing::TempDir;

// Paths through a symlink that points outside are refused: resolving them in the root
// finds nothing there, so the unpacker reports the entry instead of guessing.
enum class Expect { kRefused, kNeutralised };

struct Case {
    const char* name;
    std::function<std::string(const std::string& outside)> tar;
    Expect expect;
    const char* error_has;  // for kRefused
    UnpackOptions opts = {};
};

std::vector<Case> corpus() {
    return {
        {"dotdot", [](auto&) { return TarBuilder().file("../escape", "x").build(); },
         Expect::kRefused, "'..' is not allowed"},
        {"nested-dotdot", [](auto&) { return TarBuilder().file("a/../../../escape", "x").build(); },
         Expect::kRefused, "'..' is not allowed"},
        {"absolute-path",
         [](const std::string& out) { return TarBuilder().file(out + "/abs", "x").build(); },
         Expect::kNeutralised, nullptr},
        {"symlink-dir-absolute",
         [](const std::string& out) {
             return TarBuilder().symlink("link", out).file("link/pwned", "x").build();
         },
         Expect::kRefused, "resolve"},
        {"symlink-dir-relative",
         [](auto&) {
             return TarBuilder()
                 .symlink("link", "../../../../../../../../outside")
                 .file("link/pwned", "x")
                 .build();
         },
         Expect::kRefused, "resolve"},
        {"symlink-chain",
         [](const std::string& out) {
             return TarBuilder()
                 .dir("d")
                 .symlink("d/up", "..")
                 .symlink("d/up2", "up/../..")
                 .symlink("escape", "d/up2/" + out)
                 .file("escape/pwned", "x")
                 .build();
         },
         Expect::kRefused, "resolve"},
        {"symlink-loop",
         [](auto&) {
             return TarBuilder().symlink("a", "b").symlink("b", "a").file("a/x", "x").build();
         },
         Expect::kRefused, "resolve"},
        {"symlink-then-overwrite",
         [](const std::string& out) {
             // A file entry with the symlink's own name replaces the link; it must not
             // write through it.
             return TarBuilder().symlink("f", out + "/victim").file("f", "x").build();
         },
         Expect::kNeutralised, nullptr},
        {"hardlink-dotdot",
         [](auto&) { return TarBuilder().hardlink("h", "../outside/secret").build(); },
         Expect::kRefused, "'..' is not allowed"},
        {"hardlink-absolute-host-file",
         [](const std::string& out) { return TarBuilder().hardlink("h", out + "/secret").build(); },
         Expect::kRefused, "hard link"},
        {"hardlink-through-symlink",
         [](const std::string& out) {
             return TarBuilder().symlink("s", out).hardlink("h", "s/secret").build();
         },
         Expect::kRefused, "hard link"},
        {"hardlink-to-symlink-outside",
         [](const std::string& out) {
             // Links the symlink itself (harmless), never the host file it names.
             return TarBuilder().symlink("s", out + "/secret").hardlink("h", "s").build();
         },
         Expect::kNeutralised, nullptr},
        {"char-device", [](auto&) { return TarBuilder().device("dev/mem", false, 1, 1).build(); },
         Expect::kRefused, "device node"},
        {"block-device", [](auto&) { return TarBuilder().device("disk", true, 8, 0).build(); },
         Expect::kRefused, "device node"},
        {"huge-file-header", [](auto&) { return TarBuilder().sized("big", 3 << 20).build(); },
         Expect::kRefused, "per-file limit", UnpackOptions{.max_entry_size = 1 << 20}},
        {"gzip-bomb",
         [](auto&) {
             TarBuilder b;
             for (int i = 0; i < 8; ++i) {
                 b.sized("bomb" + std::to_string(i), 2 << 20);
             }
             return b.build("gzip");
         },
         Expect::kRefused, "limit", UnpackOptions{.max_total_size = 8 << 20}},
        {"too-many-entries",
         [](auto&) {
             TarBuilder b;
             for (int i = 0; i < 50; ++i) {
                 b.file("f" + std::to_string(i), "");
             }
             return b.build();
         },
         Expect::kRefused, "more than 20 entries", UnpackOptions{.max_entries = 20}},
        {"overlay-xattr-forgery",
         [](auto&) { return TarBuilder().xattr("trusted.overlay.opaque", "y").dir("etc").build(); },
         Expect::kNeutralised, nullptr},
        {"whiteout-dotdot", [](auto&) { return TarBuilder().file("a/.wh...", "").build(); },
         Expect::kRefused, "names no file"},
        {"whiteout-empty", [](auto&) { return TarBuilder().file("a/.wh.", "").build(); },
         Expect::kRefused, "names no file"},
        {"whiteout-through-symlink",
         [](const std::string& out) {
             return TarBuilder().symlink("s", out).file("s/.wh.secret", "").build();
         },
         Expect::kRefused, "resolve"},
        {"long-path", [](auto&) { return TarBuilder().file(std::string(5000, 'a'), "x").build(); },
         Expect::kRefused, "too long"},
        {"not-a-tar", [](auto&) { return std::string(4096, 'z'); }, Expect::kRefused, "layer"},
    };
}

// Every file under `dir`, as relative paths.
void walk(const std::string& dir, const std::string& rel, std::vector<std::string>* out) {
    auto fd = Fd::open(dir + (rel.empty() ? "" : "/" + rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd) {
        return;
    }
    DIR* d = ::fdopendir(fd->release());
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") {
            continue;
        }
        std::string r = rel.empty() ? n : rel + "/" + n;
        out->push_back(r);
        if (e->d_type == DT_DIR) {
            walk(dir, r, out);
        }
    }
    ::closedir(d);
}

TEST(HostileLayer, EachIsRefusedOrNeutralised) {
    for (const auto& c : corpus()) {
        SCOPED_TRACE(c.name);
        TempDir t;
        ASSERT_TRUE(mkdir_p(t / "target"));
        ASSERT_TRUE(mkdir_p(t / "outside"));
        ASSERT_TRUE(write_file_atomic(t / "outside/secret", "host secret\n"));
        ASSERT_TRUE(write_file_atomic(t / "outside/victim", "host victim\n"));
        auto target = Fd::open(t / "target", O_RDONLY | O_DIRECTORY);
        ASSERT_TRUE(target);
        auto layer = testing::data_fd(t, "layer", c.tar(t / "outside"));
        UnpackOptions opts = c.opts;
        opts.same_owner = ::geteuid() == 0;
        auto r = unpack_layer(layer.get(), target->get(), opts);
        if (c.expect == Expect::kRefused) {
            EXPECT_FALSE(r) << "unpacked without error";
            if (!r) {
                EXPECT_NE(r.error().str().find(c.error_has), std::string::npos) << r.error().str();
            }
        } else {
            EXPECT_TRUE(r) << r.error().str();
        }
        // Nothing outside the target changed.
        std::vector<std::string> top;
        walk(t.path(), "", &top);
        std::vector<std::string> outside_files;
        walk(t / "outside", "", &outside_files);
        std::sort(outside_files.begin(), outside_files.end());
        EXPECT_EQ(outside_files, (std::vector<std::string>{"secret", "victim"}));
        EXPECT_EQ(testing::slurp(t / "outside/secret"), "host secret\n");
        EXPECT_EQ(testing::slurp(t / "outside/victim"), "host victim\n");
        struct stat st;
        ASSERT_EQ(::stat((t / "outside/secret").c_str(), &st), 0);
        EXPECT_EQ(st.st_nlink, 1u) << "a hard link to the host file was made";
        for (const auto& p : top) {
            EXPECT_TRUE(p == "layer" || p == "outside" || p.starts_with("outside/") ||
                        p == "target" || p.starts_with("target/"))
                << "written outside the target: " << p;
        }
    }
}

TEST(HostileLayer, NeutralisedResultsStayInside) {
    TempDir t;
    ASSERT_TRUE(mkdir_p(t / "target"));
    auto target = Fd::open(t / "target", O_RDONLY | O_DIRECTORY);
    auto layer = testing::data_fd(
        t, "layer",
        TarBuilder().file("/etc/abs", "x").xattr("trusted.overlay.opaque", "y").dir("o").build());
    auto r = unpack_layer(layer.get(), target->get(), {.same_owner = false});
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(testing::slurp(t / "target/etc/abs"), "x");
    char v[4];
    EXPECT_LT(::getxattr((t / "target/o").c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
    ASSERT_EQ(r->warnings.size(), 2u) << ::testing::PrintToString(r->warnings);
    EXPECT_NE(r->warnings[0].find("leading '/' removed"), std::string::npos);
    EXPECT_NE(r->warnings[1].find("dropped xattr trusted.overlay.opaque"), std::string::npos);
}

TEST(HostileLayer, DevicesAllowedWhenAsked) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "mknod of a device needs CAP_MKNOD (root)";
    }
    TempDir t;
    ASSERT_TRUE(mkdir_p(t / "target"));
    auto target = Fd::open(t / "target", O_RDONLY | O_DIRECTORY);
    auto layer = testing::data_fd(t, "layer", TarBuilder().device("null", false, 1, 3).build());
    auto r = unpack_layer(layer.get(), target->get(), {.allow_devices = true});
    ASSERT_TRUE(r) << r.error().str();
    struct stat st;
    ASSERT_EQ(::lstat((t / "target/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
}

}  // namespace
}  // namespace gantry::image
