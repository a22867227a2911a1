// Small filesystem helpers shared by the store, the unpacker and GC. All of them work
// relative to directory fds and never follow symlinks, so a hostile tree cannot redirect
// a delete or a create outside the directory it was given.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.h"
#include "base/fd.h"

namespace gantry::image {

// Removes `name` inside `dirfd` (file, symlink or whole tree). Missing is not an error.
Status remove_tree_at(int dirfd, const std::string& name);
// Removes a path (tree or file); missing is not an error.
Status remove_tree(const std::string& path);
// Removes everything inside the directory `dirfd`, keeping the directory itself.
Status clear_dir(int dirfd);
// mkdir -p; existing directories are fine.
Status mkdir_p(const std::string& path, mode_t mode = 0755);
// fsync a directory by path, so a rename inside it is durable.
Status fsync_dir(const std::string& path);
// Creates a fresh unique directory "<parent>/<prefix>XXXXXX" and returns its path.
Result<std::string> make_temp_dir(const std::string& parent, const std::string& prefix);
// Copies bytes from `in` to `out` until EOF.
Status copy_fd(int in, int out);

}  // namespace gantry::image
