// Pulling images from a registry: the OCI distribution API (Docker registry v2) over
// libcurl. Manifests (OCI and Docker schema 2), indexes and manifest lists with a platform
// choice, blobs streamed into the store's staging area and verified there, bearer-token
// and basic auth, TLS, retries with resume (Range) for interrupted blob downloads.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/oci.h"
#include "image/reference.h"
#include "image/store.h"

namespace gantry::image {

struct PullProgress {
    std::string what;  // "manifest", "config", "layer"
    Digest digest;
    uint64_t done = 0;
    uint64_t total = 0;
    bool cached = false;  // already in the store; not downloaded
};

struct PullOptions {
    Platform platform = Platform::host();
    // Plain HTTP instead of HTTPS. Default: only for loopback registries, as Docker does.
    std::optional<bool> plain_http;
    bool tls_verify = true;
    std::string username;  // for basic auth or the token endpoint
    std::string password;
    int retries = 3;  // extra attempts after a transient failure
    std::chrono::milliseconds retry_delay{250};
    std::function<void(const PullProgress&)> progress;
};

// Pulls `ref` into the store and names it (canonical form of `ref`). All blobs are
// verified before the name is set; on error the store is unchanged.
Result<ImageRecord> pull_image(const Store& store, std::string_view ref, const PullOptions& opts);

// Parses a WWW-Authenticate challenge: scheme ("bearer", "basic", lowercase) and params.
struct AuthChallenge {
    std::string scheme;
    std::map<std::string, std::string> params;
};
Result<AuthChallenge> parse_auth_challenge(std::string_view header);

}  // namespace gantry::image
