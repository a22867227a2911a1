// Root test: the same image unpacked by Gantry (flattened) and by `umoci unpack`, compared
// file by file: type, content, mode, owner, symlink target, hard-link groups, xattrs.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>

#include "image/fsutil.h"
#include "image/import.h"
#include "image/rootfs.h"
#include "image/tests/test_util.h"

namespace gantry::image {
namespace {

using testing::TempDir;

struct Node {
    std::string type;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string data;  // content digest, link target or device numbers
    std::map<std::string, std::string> xattrs;
    std::string link_group;  // first path of the inode when nlink > 1
    bool operator==(const Node&) const = default;
};

std::ostream& operator<<(std::ostream& o, const Node& n) {
    o << n.type << " " << std::oct << n.mode << std::dec << " " << n.uid << ":" << n.gid << " "
      << n.data << " link=" << n.link_group << " xattrs=" << n.xattrs.size();
    return o;
}

void scan(const std::string& root, const std::string& rel, std::map<std::string, Node>* out,
          std::map<ino_t, std::string>* inodes) {
    std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    ASSERT_NE(d, nullptr) << dir;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") {
            names.push_back(n);
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        std::string r = rel.empty() ? n : rel + "/" + n;
        std::string p = root + "/" + r;
        struct stat st;
        ASSERT_EQ(::lstat(p.c_str(), &st), 0);
        Node node;
        node.mode = st.st_mode & 07777;
        node.uid = st.st_uid;
        node.gid = st.st_gid;
        if (S_ISDIR(st.st_mode)) {
            node.type = "dir";
        } else if (S_ISLNK(st.st_mode)) {
            node.type = "symlink";
            char buf[4096];
            ssize_t len = ::readlink(p.c_str(), buf, sizeof buf);
            node.data.assign(buf, len > 0 ? static_cast<size_t>(len) : 0);
            node.mode = 0;  // symlink modes are meaningless on Linux
        } else if (S_ISREG(st.st_mode)) {
            node.type = "file";
            node.data = sha256_of(testing::slurp(p)).str();
        } else {
            node.type = "other";
            node.data = std::to_string(st.st_rdev);
        }
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            auto [it, fresh] = inodes->emplace(st.st_ino, r);
            node.link_group = it->second;
        }
        char names_buf[4096];
        ssize_t nl = ::llistxattr(p.c_str(), names_buf, sizeof names_buf);
        for (ssize_t i = 0; i < nl;) {
            std::string key = names_buf + i;
            i += static_cast<ssize_t>(key.size()) + 1;
            char val[4096];
            ssize_t vl = ::lgetxattr(p.c_str(), key.c_str(), val, sizeof val);
            node.xattrs[key] = std::string(val, vl > 0 ? static_cast<size_t>(vl) : 0);
        }
        (*out)[r] = node;
        if (S_ISDIR(st.st_mode)) {
            scan(root, r, out, inodes);
        }
    }
}

TEST(UmociCompare, SameTreeFileByFile) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root (umoci unpack keeps ownership only as root)";
    }
    if (::access("/usr/bin/umoci", X_OK) != 0) {
        GTEST_SKIP() << "needs umoci (apt-get install umoci)";
    }
    TempDir t;
    testing::build_layout(R"({"base": "busybox", "tag": "v1", "layers": [
        {"files": [
          {"path": "/srv", "dir": true, "mode": "0750", "uid": 33, "gid": 33},
          {"path": "/srv/app", "content": "binary\n", "mode": "4755"},
          {"path": "/srv/data", "content": "shared inode", "uid": 1000, "gid": 100},
          {"path": "/srv/data-link", "hardlink": "/srv/data"},
          {"path": "/srv/rel", "symlink": "../etc/passwd"},
          {"path": "/srv/xattr", "content": "x", "xattrs": {"user.gantry": "yes"}},
          {"path": "/srv/sparse", "size": 70000},
          {"path": "/var/cache", "dir": true},
          {"path": "/var/cache/old", "content": "old"},
          {"path": "/etc/motd", "content": "hello"}]},
        {"files": [
          {"path": "/etc/.wh.motd", "content": ""},
          {"path": "/var/cache/.wh..wh..opq", "content": ""},
          {"path": "/var/cache/new", "content": "new", "mode": "0600"},
          {"path": "/srv/app", "content": "replaced\n", "mode": "0700"}]}]})",
                          t / "layout");
    // Gantry: import, then flatten.
    Store store = *Store::open(t / "store");
    ASSERT_TRUE(import_archive(store, t / "layout", {.name = "cmp:v1"}));
    auto img = store.load("cmp:v1");
    ASSERT_TRUE(img) << img.error().str();
    ASSERT_TRUE(mkdir_p(t / "gantry"));
    auto target = Fd::open(t / "gantry", O_RDONLY | O_DIRECTORY);
    auto st = flatten_image(store, *img, target->get());
    ASSERT_TRUE(st) << st.error().str();
    // umoci.
    std::string cmd = "umoci unpack --image " + (t / "layout") + ":v1 " + (t / "bundle") + " > " +
                      (t / "umoci.log") + " 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::slurp(t / "umoci.log");

    std::map<std::string, Node> ours, theirs;
    std::map<ino_t, std::string> i1, i2;
    scan(t / "gantry", "", &ours, &i1);
    scan(t / "bundle/rootfs", "", &theirs, &i2);
    EXPECT_GT(ours.size(), 250u);  // busybox applets and all
    for (const auto& [path, node] : theirs) {
        auto it = ours.find(path);
        if (it == ours.end()) {
            ADD_FAILURE() << "umoci has " << path << ", Gantry does not";
            continue;
        }
        EXPECT_EQ(it->second, node) << path;
    }
    for (const auto& [path, node] : ours) {
        EXPECT_TRUE(theirs.contains(path)) << "Gantry has " << path << ", umoci does not";
    }
    // The interesting cases really were exercised.
    EXPECT_FALSE(ours.contains("etc/motd"));
    EXPECT_FALSE(ours.contains("var/cache/old"));
    EXPECT_EQ(ours["srv/data-link"].link_group, "srv/data");
    EXPECT_EQ(ours["srv/xattr"].xattrs["user.gantry"], "yes");
    EXPECT_EQ(ours["srv"].uid, 33u);
}

}  // namespace
}  // namespace gantry::image
