// `gantry-build image`: builds a small OCI image layout (and optionally a tar of it) from
// a JSON spec. Used by tests and benchmarks to make images without Docker; the OS-image
// builder will live beside it in this folder.
//
// Spec (JSON):
//   {
//     "base": "busybox" | "scratch",        // busybox: /bin/busybox + applet symlinks
//     "busybox": "/bin/busybox",             // where to take the static busybox from
//     "layers": [ { "files": [FILE...] } ],  // on top of the base, one layer each
//     "config": { "Entrypoint": [...], "Cmd": [...], "Env": [...], "WorkingDir": "...",
//                 "User": "...", "ExposedPorts": {"80/tcp": {}}, "StopSignal": "...",
//                 "Healthcheck": {...}, "Labels": {...} },   // copied into the config
//     "platforms": ["linux/amd64", "linux/arm64"],  // >1 makes an image index
//     "compression": "gzip" | "zstd" | "none",
//     "tag": "latest"                        // org.opencontainers.image.ref.name
//   }
// FILE: {"path": "/etc/x", "content": "text" | "source": "/host/file" | "symlink": "t" |
//        "hardlink": "/other" | "dir": true, "mode": "0644", "uid": 0, "gid": 0,
//        "xattrs": {"user.k": "v"}, "size": N (zero-filled content of N bytes)}
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::build {

struct FileSpec {
    std::string path;
    enum class Kind { kFile, kDir, kSymlink, kHardlink } kind = Kind::kFile;
    std::string content;  // file content (from "content", "source" or "size")
    std::string target;   // symlink or hardlink target
    mode_t mode = 0644;
    uid_t uid = 0;
    gid_t gid = 0;
    std::map<std::string, std::string> xattrs;
};

struct LayerSpec {
    std::vector<FileSpec> files;
};

struct ImageBuildSpec {
    bool busybox_base = true;
    std::string busybox_path = "/bin/busybox";
    std::vector<LayerSpec> layers;
    std::string config_json = "{}";  // the image config's "config" object
    std::vector<std::string> platforms;
    std::string compression = "gzip";
    std::string tag = "latest";
};

Result<ImageBuildSpec> parse_build_spec(std::string_view json_text);

// Serialises files as a tar (deterministic: fixed mtime, entries in the given order).
Result<std::string> make_layer_tar(const std::vector<FileSpec>& files);
// Compresses a tar with "gzip", "zstd" or "none"; returns the bytes.
Result<std::string> compress(std::string_view data, const std::string& how);

struct BuiltImage {
    image::Digest top;  // the index.json entry: an image index or a manifest
    std::string media_type;
    uint64_t size = 0;
};

// Writes an OCI image layout into `out_dir` (created; must be empty or absent).
Result<BuiltImage> build_oci_layout(const ImageBuildSpec& spec, const std::string& out_dir);
// Tars a directory (an OCI layout) into `tar_path`, entries relative to it.
Status write_dir_tar(const std::string& dir, const std::string& tar_path);

}  // namespace gantry::build
