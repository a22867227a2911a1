// Image references as people write them, parsed with the rules of
// github.com/distribution/reference: `redis`, `redis:7`, `ghcr.io/o/app:1.2`,
// `localhost:5000/app`, `app@sha256:...`, `app:1@sha256:...`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/digest.h"

namespace gantry::image {

inline constexpr std::string_view kDockerHub = "docker.io";

struct Reference {
    std::string domain;  // "docker.io", "127.0.0.1:5000", "ghcr.io"
    std::string path;    // "library/redis", "o/app"
    std::string tag;     // empty when only a digest was given
    std::optional<Digest> digest;

    // Parses and normalises: no domain → docker.io; docker.io with one component →
    // library/<name>; neither tag nor digest → tag "latest".
    static Result<Reference> parse(std::string_view text);

    // "docker.io/library/redis:7", "host/app@sha256:..", "host/app:1@sha256:..".
    std::string str() const;
    // domain/path only.
    std::string repository() const { return domain + "/" + path; }
    // What the registry API is asked for: the digest when present, else the tag.
    std::string api_reference() const { return digest ? digest->str() : tag; }
    // The host to talk to: docker.io's API lives at registry-1.docker.io.
    std::string registry_host() const;
    // Docker's default for plain HTTP: loopback registries ("localhost", 127.0.0.0/8, ::1).
    bool is_loopback() const;
};

}  // namespace gantry::image
