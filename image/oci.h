// The OCI image-spec documents Gantry reads (descriptor, manifest, index, image config),
// parsed from bytes. Docker schema 2 manifests and manifest lists have the same shape as
// their OCI counterparts and differ only in media types, so one model covers both.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::image {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media

bool is_index_type(std::string_view media_type);
bool is_manifest_type(std::string_view media_type);
bool is_layer_type(std::string_view media_type);

struct Platform {
    std::string os = "linux";
    std::string architecture;
    std::string variant;

    // "linux/arm64/v8", "linux/amd64", "arm64" (os defaults to linux).
    static Result<Platform> parse(std::string_view text);
    // The platform this binary was built for, in Go's GOARCH names.
    static Platform host();
    std::string str() const;
    // True when an image for `candidate` runs here: os and architecture equal, and the
    // variant equal when this (the wanted) platform names one.
    bool matches(const Platform& candidate) const;
};

struct Descriptor {
    std::string media_type;
    Digest digest;
    uint64_t size = 0;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;
};

struct Manifest {
    std::string media_type;
    Descriptor config;
    std::vector<Descriptor> layers;
};

struct Index {
    std::string media_type;
    std::vector<Descriptor> manifests;
};

struct Healthcheck {
    std::vector<std::string> test;  // ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]
    int64_t interval_ns = 0;
    int64_t timeout_ns = 0;
    int64_t start_period_ns = 0;
    int retries = 0;
};

// The "config" object of an image config: what a container of the image runs by default.
struct ContainerConfig {
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
    std::vector<std::string> env;
    std::string working_dir;
    std::string user;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::string stop_signal;
    std::optional<Healthcheck> healthcheck;
    std::map<std::string, std::string> labels;
};

struct ImageConfig {
    Platform platform;
    ContainerConfig config;
    std::vector<Digest> diff_ids;  // digests of the uncompressed layers, base first
};

// Peeks at a manifest-ish document and returns its mediaType, falling back to the shape
// ("manifests" → index, "layers" → manifest) for documents that omit it.
Result<std::string> sniff_media_type(std::string_view json);
Result<Descriptor> parse_descriptor_json(std::string_view json);
Result<Manifest> parse_manifest(std::string_view json);
Result<Index> parse_index(std::string_view json);
Result<ImageConfig> parse_image_config(std::string_view json);

// Serialisers used by importers and the image builder; output is canonical (sorted keys).
std::string manifest_to_json(const Manifest& m);
std::string index_to_json(const Index& idx);
std::string descriptor_to_json(const Descriptor& d);

// Chooses the manifest for `want` from an index; errors list the platforms on offer.
Result<Descriptor> select_platform(const Index& idx, const Platform& want);

}  // namespace gantry::image
