#include "image/tests/test_util.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/fd.h"
#include "image/fsutil.h"

namespace gantry::image::testing {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    auto p = make_temp_dir(base != nullptr ? base : "/tmp", "gantry-image-test-");
    if (!p) {
        ADD_FAILURE() << p.error().str();
        std::abort();
    }
    path_ = *p;
}

TempDir::~TempDir() {
    (void)remove_tree(path_);
}

build::BuiltImage build_layout(const std::string& spec_json, const std::string& dir) {
    auto spec = build::parse_build_spec(spec_json);
    if (!spec) {
        ADD_FAILURE() << spec.error().str();
        std::abort();
    }
    auto built = build::build_oci_layout(*spec, dir);
    if (!built) {
        ADD_FAILURE() << built.error().str();
        std::abort();
    }
    return *built;
}

std::string scratch_spec(const std::string& marker, const std::string& compression) {
    return R"({"base": "scratch", "compression": ")" + compression + R"(",
      "layers": [
        {"files": [{"path": "/etc", "dir": true}, {"path": "/bin", "dir": true},
                   {"path": "/etc/base", "content": "base layer\n"},
                   {"path": "/bin/tool", "content": "#!/bin/sh\necho tool\n", "mode": "0755"}]},
        {"files": [{"path": "/etc/marker", "content": ")" +
           marker + R"(\n"}]}
      ],
      "config": {"Cmd": ["/bin/tool"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
      "tag": "v1"})";
}

size_t count_entries(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        return 0;
    }
    size_t n = 0;
    while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name != "." && name != "..") {
            ++n;
        }
    }
    ::closedir(d);
    return n;
}

std::string slurp(const std::string& path) {
    auto r = read_file(path);
    return r ? *r : std::string("<missing: ") + r.error().str() + ">";
}

}  // namespace gantry::image::testing
