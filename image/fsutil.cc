#include "image/fsutil.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace gantry::image {

namespace {

// Lists the names in a directory fd (excluding . and ..). Takes a dup because
// fdopendir owns the fd it is given.
Result<std::vector<std::string>> list_dir(int dirfd) {
    int d = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) {
        return fail(Error::sys("dup"));
    }
    DIR* dir = ::fdopendir(d);
    if (dir == nullptr) {
        ::close(d);
        return fail(Error::sys("fdopendir"));
    }
    ::rewinddir(dir);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") {
            names.emplace_back(n);
        }
    }
    ::closedir(dir);
    return names;
}

}  // namespace

Status clear_dir(int dirfd) {
    auto names = GANTRY_TRY(list_dir(dirfd));
    for (const auto& n : names) {
        GANTRY_TRY(remove_tree_at(dirfd, n));
    }
    return ok();
}

Status remove_tree_at(int dirfd, const std::string& name) {
    if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) {
        return ok();
    }
    if (errno != EISDIR && errno != EPERM) {
        return fail(Error::sys("unlink '{}'", name));
    }
    // O_NOFOLLOW: if `name` was swapped for a symlink we fail instead of emptying its target.
    auto sub = Fd::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!sub) {
        return fail(std::move(sub.error()).context("remove"));
    }
    GANTRY_TRY_CTX(clear_dir(sub->get()), "remove '{}'", name);
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return fail(Error::sys("rmdir '{}'", name));
    }
    return ok();
}

Status remove_tree(const std::string& path) {
    auto slash = path.rfind('/');
    // (An if/else rather than ?: with a fix-up: GCC 12 raises a false -Wrestrict there.)
    std::string parent;
    if (slash == std::string::npos) {
        parent = ".";
    } else if (slash == 0) {
        parent = "/";
    } else {
        parent = path.substr(0, slash);
    }
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    auto pfd = Fd::open(parent, O_RDONLY | O_DIRECTORY);
    if (!pfd) {
        if (pfd.error().code() == ENOENT) {
            return ok();
        }
        return fail(std::move(pfd.error()));
    }
    return remove_tree_at(pfd->get(), base);
}

Status mkdir_p(const std::string& path, mode_t mode) {
    std::string cur;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) {
            j = path.size();
        }
        cur = path.substr(0, j);
        if (!cur.empty() && ::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
            return fail(Error::sys("mkdir '{}'", cur));
        }
        i = j + 1;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return fail(Error::msg("mkdir '{}': exists and is not a directory", path));
    }
    return ok();
}

Status fsync_dir(const std::string& path) {
    auto fd = GANTRY_TRY(Fd::open(path, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) != 0) {
        return fail(Error::sys("fsync '{}'", path));
    }
    return ok();
}

Result<std::string> make_temp_dir(const std::string& parent, const std::string& prefix) {
    std::string tmpl = parent + "/" + prefix + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
        return fail(Error::sys("mkdtemp '{}'", tmpl));
    }
    return tmpl;
}

Status copy_fd(int in, int out) {
    std::string buf(1 << 17, '\0');
    for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(Error::sys("read"));
        }
        if (n == 0) {
            return ok();
        }
        GANTRY_TRY(write_all(out, std::string_view(buf.data(), static_cast<size_t>(n))));
    }
}

}  // namespace gantry::image
