// `gantry-build image --spec SPEC.json --out LAYOUT_DIR [--tar FILE.tar]`: an OCI image
// layout (and optionally a tar of it) from a small spec; see docs/images.md.
#include "rootfs-build/image_cmd.h"

#include <fmt/core.h>

#include <cstring>
#include <string>

#include "base/fd.h"
#include "rootfs-build/image_builder.h"

static int usage() {
    fmt::print(stderr,
               "usage: gantry-build image --spec SPEC.json --out LAYOUT_DIR [--tar FILE.tar]\n");
    return 2;
}

int image_command(int argc, char** argv) {
    std::string spec_path, out, tar;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--spec") {
            spec_path = next();
        } else if (a == "--out") {
            out = next();
        } else if (a == "--tar") {
            tar = next();
        } else {
            return usage();
        }
    }
    if (spec_path.empty() || out.empty()) {
        return usage();
    }
    auto text = gantry::read_file(spec_path);
    if (!text) {
        fmt::print(stderr, "gantry-build image: {}\n", text.error());
        return 1;
    }
    auto spec = gantry::build::parse_build_spec(*text);
    if (!spec) {
        fmt::print(stderr, "gantry-build image: {}: {}\n", spec_path, spec.error());
        return 1;
    }
    auto built = gantry::build::build_oci_layout(*spec, out);
    if (!built) {
        fmt::print(stderr, "gantry-build image: {}\n", built.error());
        return 1;
    }
    if (!tar.empty()) {
        if (auto t = gantry::build::write_dir_tar(out, tar); !t) {
            fmt::print(stderr, "gantry-build image: {}\n", t.error());
            return 1;
        }
    }
    fmt::print("{}\n", built->top.str());
    return 0;
}
