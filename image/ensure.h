// What the supervisor calls for `image: ...` in a service: find the image in the store, or
// get it. Accepts the forms the cloud-config allows:
//   redis:7, host:5000/app@sha256:...     the store, else pulled from the registry
//   oci:/path/to/layout[:tag]             an OCI layout directory (imported)
//   oci-archive:/path/to/file.tar[:tag]   a tar of an OCI layout (imported)
//   docker-archive:/path/to/file.tar      a `docker save` archive (imported)
// (the transport names are skopeo's).
#pragma once

#include <string_view>

#include "base/error.h"
#include "image/registry.h"
#include "image/store.h"

namespace gantry::image {

enum class PullPolicy {
    kMissing,  // pull only when the store lacks the name (Compose's default)
    kAlways,   // pull every time (a moving tag)
    kNever,    // the store only
};

Result<Image> ensure_image(const Store& store, std::string_view image, PullPolicy policy,
                           const PullOptions& opts = {});

}  // namespace gantry::image
