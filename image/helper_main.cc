// gantry-image: the image helper PID 1 runs for work that needs the full image library
// (registry client, archive import, layer unpack), so that PID 1 itself links none of it
// and its event loop never waits on a registry. One run per image at a time.
//
//     gantry-image ensure [--store DIR] [--pull missing|always|never] IMAGE
//
// Finds IMAGE in the store, else imports it (oci:, oci-archive:, docker-archive:) or pulls
// it from its registry, then unpacks every layer not yet under layers/. Reports on stdout
// in the protocol of image/helper_protocol.h; exits 0 once the image is ready, 1 with an
// `error` line otherwise, 2 on a usage error.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "base/fd.h"
#include "image/ensure.h"
#include "image/helper_protocol.h"
#include "image/rootfs.h"

namespace {

using namespace gantry;
using namespace gantry::image;

void say(const std::string& line) {
    (void)write_all(STDOUT_FILENO, line);
}

int usage(std::string_view why) {
    std::fprintf(stderr,
                 "gantry-image: %.*s\n"
                 "usage: gantry-image ensure [--store DIR] [--pull missing|always|never] IMAGE\n",
                 static_cast<int>(why.size()), why.data());
    return 2;
}

Result<Image> ensure(const std::string& store_dir, const std::string& ref, PullPolicy pull) {
    Store store = GANTRY_TRY(Store::open(store_dir));
    say(format_progress(fmt::format("resolving {}", ref)));
    PullOptions po;
    uint64_t last_step = 0;
    po.progress = [&](const PullProgress& p) {
        // A line per blob start/end and per 8 MiB: enough to see it move, not a flood.
        uint64_t step = p.done >> 23;
        if (p.done == 0 || p.done == p.total || step != last_step) {
            last_step = step;
            say(format_progress(fmt::format("pulling {} {} {}/{} bytes{}", p.what,
                                            p.digest.str().substr(0, 19), p.done, p.total,
                                            p.cached ? " (cached)" : "")));
        }
    };
    Image img = GANTRY_TRY(ensure_image(store, ref, pull, po));
    auto missing = missing_layers(store, img);
    if (!missing.empty()) {
        say(format_progress(fmt::format("unpacking {} of {} layers of {}", missing.size(),
                                        img.config.diff_ids.size(), img.record.name)));
        GANTRY_TRY(ensure_layers(store, img));
    }
    return img;
}

}  // namespace

int main(int argc, char** argv) {
    std::string store_dir(kDefaultStoreRoot);
    PullPolicy pull = PullPolicy::kMissing;
    std::string ref;
    if (argc < 2 || std::string_view(argv[1]) != "ensure") {
        return usage("the only command is `ensure`");
    }
    for (int i = 2; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--store" && i + 1 < argc) {
            store_dir = argv[++i];
        } else if (a == "--pull" && i + 1 < argc) {
            std::string_view p = argv[++i];
            if (p == "missing") {
                pull = PullPolicy::kMissing;
            } else if (p == "always") {
                pull = PullPolicy::kAlways;
            } else if (p == "never") {
                pull = PullPolicy::kNever;
            } else {
                return usage(fmt::format("--pull {}: not one of missing, always, never", p));
            }
        } else if (a.starts_with("-")) {
            return usage(fmt::format("unknown flag {}", a));
        } else if (ref.empty()) {
            ref = a;
        } else {
            return usage("one IMAGE only");
        }
    }
    if (ref.empty()) {
        return usage("IMAGE is missing");
    }
    auto img = ensure(store_dir, ref, pull);
    if (!img) {
        say(format_error(fmt::format("image {}: {}", ref, img.error().str())));
        return 1;
    }
    say(format_done(img->record.digest, img->record.name));
    return 0;
}
