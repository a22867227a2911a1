#include "image/unpack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/fsutil.h"
#include "image/layer_stream.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TarBuilder;
using testing::TempDir;

struct Target {
    TempDir t;
    Fd dir;
    Target() {
        EXPECT_TRUE(mkdir_p(t / "root"));
        dir = std::move(*Fd::open(t / "root", O_RDONLY | O_DIRECTORY));
    }
    std::string operator/(const std::string& rel) const { return t / ("root/" + rel); }
    Result<UnpackStats> unpack(const std::string& layer, UnpackOptions opts = {}) {
        auto fd = testing::data_fd(t, "layer-" + std::to_string(n_++), layer);
        return unpack_layer(fd.get(), dir.get(), opts);
    }
    bool exists(const std::string& rel) const {
        struct stat st;
        return ::lstat((*this / rel).c_str(), &st) == 0;
    }
    int n_ = 0;
};

TEST(Unpack, FilesDirsSymlinksAndModes) {
    for (const std::string comp : {"none", "gzip", "zstd"}) {
        Target t;
        auto tar = TarBuilder()
                       .dir("etc", 0750)
                       .file("etc/app.conf", "level=info\n", 0640)
                       .file("bin/run", "#!/bin/sh\n", 04755)
                       .symlink("bin/sh", "/bin/busybox")
                       .build(comp);
        auto r = t.unpack(tar);
        ASSERT_TRUE(r) << comp << ": " << r.error().str();
        EXPECT_EQ(testing::slurp(t / "etc/app.conf"), "level=info\n");
        struct stat st;
        ASSERT_EQ(::lstat((t / "etc").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0750u);
        ASSERT_EQ(::lstat((t / "etc/app.conf").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0640u);
        EXPECT_EQ(st.st_mtime, 1700000000);
        ASSERT_EQ(::lstat((t / "bin/run").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, ::geteuid() == 0 ? 04755u : 0755u);
        char buf[64] = {};
        ASSERT_GT(::readlink((t / "bin/sh").c_str(), buf, sizeof buf - 1), 0);
        EXPECT_STREQ(buf, "/bin/busybox");
        EXPECT_EQ(r->entries, 4u);
    }
}

TEST(Unpack, HardLinksShareAnInode) {
    Target t;
    auto r = t.unpack(TarBuilder().file("a", "data").hardlink("b", "a").build());
    ASSERT_TRUE(r) << r.error().str();
    struct stat sa, sb;
    ASSERT_EQ(::lstat((t / "a").c_str(), &sa), 0);
    ASSERT_EQ(::lstat((t / "b").c_str(), &sb), 0);
    EXPECT_EQ(sa.st_ino, sb.st_ino);
    EXPECT_EQ(sa.st_nlink, 2u);
}

TEST(Unpack, OwnershipAndXattrs) {
    Target t;
    auto r = t.unpack(
        TarBuilder().xattr("user.origin", "gantry").file("f", "x", 0600, 1234, 5678).build(),
        {.same_owner = ::geteuid() == 0});
    ASSERT_TRUE(r) << r.error().str();
    char buf[32] = {};
    ssize_t n = ::getxattr((t / "f").c_str(), "user.origin", buf, sizeof buf);
    if (n < 0 && errno == ENOTSUP) {
        GTEST_SKIP() << "the temp filesystem does not support user xattrs";
    }
    EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "gantry");
    if (::geteuid() == 0) {
        struct stat st;
        ASSERT_EQ(::lstat((t / "f").c_str(), &st), 0);
        EXPECT_EQ(st.st_uid, 1234u);
        EXPECT_EQ(st.st_gid, 5678u);
    }
}

TEST(Unpack, AppliesWhiteoutsAndOpaqueDirs) {
    Target t;
    ASSERT_TRUE(t.unpack(TarBuilder()
                             .file("a/x", "1")
                             .file("a/y", "2")
                             .file("b/z", "3")
                             .file("b/keep/k", "4")
                             .build()));
    auto r = t.unpack(TarBuilder()
                          .file("b/new", "5")
                          .file("a/.wh.x", "")
                          .file("b/.wh..wh..opq", "")
                          .file(".wh..wh.plnk", "")
                          .build());
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_FALSE(t.exists("a/x"));
    EXPECT_TRUE(t.exists("a/y"));
    EXPECT_FALSE(t.exists("b/z"));
    EXPECT_FALSE(t.exists("b/keep"));
    EXPECT_TRUE(t.exists("b/new"));  // same layer as the opaque marker: stays
    EXPECT_FALSE(t.exists("a/.wh.x"));
    EXPECT_FALSE(t.exists(".wh..wh.plnk"));
}

TEST(Unpack, LaterEntriesReplaceEarlierOnes) {
    Target t;
    ASSERT_TRUE(t.unpack(TarBuilder().dir("d").file("d/f", "old").file("s", "file").build()));
    auto r = t.unpack(TarBuilder().file("d", "now a file").dir("s").build());
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(testing::slurp(t / "d"), "now a file");
    struct stat st;
    ASSERT_EQ(::lstat((t / "s").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(Unpack, VerifiesDiffId) {
    Target t;
    std::string plain = TarBuilder().file("f", "x").build();
    Digest right = sha256_of(plain);
    std::string gz = *build::compress(plain, "gzip");
    auto ok = t.unpack(gz, {.expect_diff_id = right});
    ASSERT_TRUE(ok) << ok.error().str();
    EXPECT_EQ(ok->diff_id, right);
    auto bad = t.unpack(gz, {.expect_diff_id = sha256_of("other")});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().str().find("the image config says"), std::string::npos);
}

TEST(Unpack, OverlayWhiteoutsNeedRoot) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "overlay whiteouts (char 0:0, trusted.overlay.opaque) need root";
    }
    Target t;
    auto r = t.unpack(TarBuilder().file("a/.wh.gone", "").file("b/.wh..wh..opq", "").build(),
                      {.whiteouts = WhiteoutMode::kOverlay});
    ASSERT_TRUE(r) << r.error().str();
    struct stat st;
    ASSERT_EQ(::lstat((t / "a/gone").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
    char v[4] = {};
    EXPECT_EQ(::getxattr((t / "b").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    EXPECT_EQ(v[0], 'y');
}

TEST(Unpack, CorruptCompressedStreamFails) {
    Target t;
    std::string gz = TarBuilder().file("f", std::string(100000, 'q')).build("gzip");
    gz.resize(gz.size() / 2);
    EXPECT_FALSE(t.unpack(gz));
}

// The new file's owner is skipped only when creation already gave it: in a set-group-ID
// directory a new file takes the directory's group, so the archive's group must be set.
TEST(Unpack, OwnerInSetGroupIdDirectory) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (chown)";
    }
    Target t;
    ASSERT_TRUE(mkdir_p(t / "d"));
    ASSERT_EQ(::chown((t / "d").c_str(), 0, 1234), 0);
    ASSERT_EQ(::chmod((t / "d").c_str(), 02775), 0);
    auto r = t.unpack(
        TarBuilder().file("d/root", "x", 0644, 0, 0).file("d/inherit", "y", 0644, 0, 1234).build());
    ASSERT_TRUE(r) << r.error().str();
    struct stat st;
    ASSERT_EQ(::lstat((t / "d/root").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, 0u);
    ASSERT_EQ(::lstat((t / "d/inherit").c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, 1234u);
}

// Data through the decompression thread: every byte, in order, across many ring slots.
// Files are created with their final mode when the umask keeps it (no fchmod); whatever
// the umask, into an empty or a non-empty target, every mode must come out exact.
TEST(Unpack, ModesAreExactWhateverTheUmask) {
    for (mode_t mask : {022u, 077u, 0u}) {
        mode_t old = ::umask(mask);
        Target t;
        auto layer = [](const std::string& p) {
            return TarBuilder()
                .file(p + "a", "a", 0644)
                .file(p + "b", "b", 0777)
                .file(p + "c", "c", 0600)
                .file(p + "d", "d", 0751)
                .file(p + "e", "e", 0000)
                .build();
        };
        auto first = t.unpack(layer(""));     // empty target
        auto second = t.unpack(layer("x/"));  // not empty any more
        ::umask(old);
        ASSERT_TRUE(first) << first.error().str();
        ASSERT_TRUE(second) << second.error().str();
        for (const std::string p : {"", "x/"}) {
            for (auto [name, mode] :
                 {std::pair{"a", 0644u}, {"b", 0777u}, {"c", 0600u}, {"d", 0751u}, {"e", 0u}}) {
                struct stat st;
                ASSERT_EQ(::lstat((t / (p + name)).c_str(), &st), 0);
                EXPECT_EQ(st.st_mode & 07777, mode) << p << name << " umask " << mask;
            }
        }
    }
}

// With writer threads (file_writers.h) the tree must evolve exactly as in tar order: the
// same results, and the same refusals, as with every file on one thread.
TEST(Unpack, WriterThreadsKeepTarOrder) {
    struct Case {
        std::vector<std::string> layers;
        bool ok;
        std::vector<std::pair<std::string, std::string>> files;  // path, content ("" = dir)
    };
    std::vector<Case> cases = {
        // the same path twice in one layer: the later wins
        {{TarBuilder().file("f", "one").file("g", "x").file("f", "two").build()},
         true,
         {{"f", "two"}, {"g", "x"}}},
        // a file, then a directory below it: refused as on one thread (not a directory)
        {{TarBuilder().file("a", "file").file("a/b", "under").build()}, false, {}},
        // a directory with files, then a file in its place
        {{TarBuilder().dir("d").file("d/x", "1").file("d", "now a file").build()},
         true,
         {{"d", "now a file"}}},
        // a file, then a directory in its place, then files in it
        {{TarBuilder().file("d", "file").dir("d").file("d/y", "2").build()},
         true,
         {{"d", ""}, {"d/y", "2"}}},
        // flattening over a lower layer: names taken by the lower layer are replaced
        {{TarBuilder().file("f", "low").dir("e").file("e/z", "3").file("s", "sym").build(),
          TarBuilder()
              .file("f", "high")
              .file("e", "was a dir")
              .symlink("s", "f")
              .file("s", "file again")
              .build()},
         true,
         {{"f", "high"}, {"e", "was a dir"}, {"s", "file again"}}},
        // a hard link to a file still queued
        {{TarBuilder().file("t", "target").hardlink("h", "t").build()},
         true,
         {{"t", "target"}, {"h", "target"}}},
    };
    // Many files in many directories, with a rewrite of some.
    TarBuilder many;
    std::vector<std::pair<std::string, std::string>> expect;
    for (int d = 0; d < 20; ++d) {
        many.dir("p" + std::to_string(d));
        for (int f = 0; f < 50; ++f) {
            std::string path = "p" + std::to_string(d) + "/f" + std::to_string(f);
            many.file(path, std::string(static_cast<size_t>(f * 97 % 5000), 'a' + d % 26));
        }
    }
    for (int d = 0; d < 20; d += 3) {
        std::string path = "p" + std::to_string(d) + "/f7";
        many.file(path, "rewritten " + path);
        expect.emplace_back(path, "rewritten " + path);
    }
    expect.emplace_back("p1/f3", std::string(291, 'b'));
    cases.push_back({{many.build("gzip")}, true, expect});

    for (size_t i = 0; i < cases.size(); ++i) {
        for (unsigned writers : {0u, 2u}) {
            Target t;
            Status result = ok();
            for (const auto& layer : cases[i].layers) {
                if (auto r = t.unpack(layer, {.writers = writers}); !r) {
                    result = fail(std::move(r.error()));
                    break;
                }
            }
            ASSERT_EQ(result.has_value(), cases[i].ok)
                << "case " << i << " writers " << writers << ": "
                << (result ? "" : result.error().str());
            for (const auto& [path, content] : cases[i].files) {
                struct stat st;
                ASSERT_EQ(::lstat((t / path).c_str(), &st), 0) << i << " " << path;
                if (content.empty()) {
                    EXPECT_TRUE(S_ISDIR(st.st_mode)) << i << " " << path;
                } else {
                    EXPECT_TRUE(S_ISREG(st.st_mode)) << i << " " << path;
                    EXPECT_EQ(testing::slurp(t / path), content) << i << " " << path;
                }
            }
        }
    }
}

TEST(LayerStream, DeliversTheWholeStreamInOrder) {
    TempDir t;
    std::string big;
    for (int i = 0; big.size() < (9u << 20); ++i) {
        big += std::to_string(i * 7919) + (i % 3 == 0 ? "\n" : " ");
    }
    TarBuilder b;
    b.file("a", big).file("b", "tail");
    std::string plain = b.build("none");
    for (const std::string comp : {"none", "gzip", "zstd"}) {
        auto fd = testing::data_fd(t, "layer-" + comp, b.build(comp));
        LayerStream s;
        ASSERT_TRUE(s.open(fd.get(), 1ull << 30));
        std::string got;
        for (;;) {
            auto chunk = s.next();
            ASSERT_TRUE(chunk) << chunk.error().str();
            if (chunk->empty()) {
                break;
            }
            got.append(*chunk);
        }
        EXPECT_TRUE(got == plain) << comp << ": " << got.size() << " vs " << plain.size();
        Sha256 h;
        h.update(plain);
        EXPECT_EQ(s.digest(), h.finish()) << comp;
    }
}

TEST(LayerStream, ErrorsComeAfterTheDataAndStopTheThread) {
    TempDir t;
    std::string big(8u << 20, 'z');
    auto gz = TarBuilder().file("a", big).build("gzip");
    {
        // Over the limit: an EFBIG error, never a silent end.
        auto fd = testing::data_fd(t, "bomb", gz);
        LayerStream s;
        ASSERT_TRUE(s.open(fd.get(), 1u << 20));
        uint64_t n = 0;
        Result<std::string_view> chunk;
        while ((chunk = s.next()) && !chunk->empty()) {
            n += chunk->size();
        }
        ASSERT_FALSE(chunk);
        EXPECT_EQ(chunk.error().code(), EFBIG);
        EXPECT_LE(n, 2u << 20);
    }
    {
        // Truncated: the data before the cut, then an error.
        auto fd = testing::data_fd(t, "cut", gz.substr(0, gz.size() / 2));
        LayerStream s;
        ASSERT_TRUE(s.open(fd.get(), 1ull << 30));
        Result<std::string_view> chunk;
        while ((chunk = s.next()) && !chunk->empty()) {
        }
        EXPECT_FALSE(chunk);
    }
    {
        // Abandoned after one chunk: the destructor stops and joins the thread.
        auto fd = testing::data_fd(t, "left", gz);
        LayerStream s;
        ASSERT_TRUE(s.open(fd.get(), 1ull << 30));
        EXPECT_TRUE(s.next());
    }
}

}  // namespace
}  // namespace gantry::image
