// gantryctl image pull / import. Pull draws one progress line per blob on a terminal
// (stderr), like `docker pull`; with -q or when stderr is not a terminal it prints only
// the result.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include "base/units.h"
#include "ctl/image_cmd.h"
#include "image/import.h"
#include "image/registry.h"

namespace gantry::ctl {

namespace {

class ProgressBar {
  public:
    explicit ProgressBar(bool enabled) : enabled_(enabled) {}

    void update(const image::PullProgress& p) {
        if (!enabled_) {
            return;
        }
        auto now = std::chrono::steady_clock::now();
        bool done = p.done >= p.total;
        // Redraw at most ~10 times a second per blob, and always on completion.
        auto& last = last_draw_[p.digest.hex()];
        if (!done && now - last < std::chrono::milliseconds(100)) {
            return;
        }
        last = now;
        constexpr int kWidth = 30;
        int filled = p.total == 0 ? kWidth : static_cast<int>(kWidth * p.done / p.total);
        std::string bar(static_cast<size_t>(filled), '=');
        if (filled < kWidth) {
            bar += '>';
            bar.resize(kWidth, ' ');
        }
        std::string status = p.cached ? "Already exists"
                             : done   ? "Pull complete"
                                      : fmt::format("[{}]", bar);
        fmt::print(stderr, "\r{} {}: {} {}/{}\x1b[K", p.digest.hex().substr(0, 12), p.what, status,
                   format_size(p.done), format_size(p.total));
        if (done) {
            fmt::print(stderr, "\n");
        }
    }

  private:
    bool enabled_;
    std::map<std::string, std::chrono::steady_clock::time_point> last_draw_;
};

Result<image::Platform> platform_arg(const std::string& v) {
    return image::Platform::parse(v);
}

}  // namespace

int image_pull(const ImageArgs& a) {
    std::string ref;
    image::PullOptions opts;
    bool quiet = false;
    for (size_t i = 0; i < a.rest.size(); ++i) {
        const std::string& s = a.rest[i];
        auto next = [&]() -> std::string { return i + 1 < a.rest.size() ? a.rest[++i] : ""; };
        if (s == "--platform") {
            auto p = platform_arg(next());
            if (!p) {
                fmt::print(stderr, "gantryctl image pull: {}\n", p.error());
                return 2;
            }
            opts.platform = *p;
        } else if (s == "--plain-http") {
            opts.plain_http = true;
        } else if (s == "--insecure") {
            opts.tls_verify = false;
        } else if (s == "--user") {
            std::string up = next();
            auto colon = up.find(':');
            opts.username = up.substr(0, colon);
            opts.password = colon == std::string::npos ? "" : up.substr(colon + 1);
        } else if (s == "-q" || s == "--quiet") {
            quiet = true;
        } else if (ref.empty() && !s.starts_with('-')) {
            ref = s;
        } else {
            fmt::print(stderr, "gantryctl image pull: unexpected argument '{}'\n", s);
            return 2;
        }
    }
    if (ref.empty()) {
        fmt::print(stderr,
                   "usage: gantryctl image pull REF [--platform P] [--plain-http] "
                   "[--insecure] [--user U:P] [-q]\n");
        return 2;
    }
    auto store = image::Store::open(a.store);
    if (!store) {
        fmt::print(stderr, "gantryctl image pull: {}\n", store.error());
        return 1;
    }
    ProgressBar bar(!quiet && ::isatty(2) == 1);
    opts.progress = [&](const image::PullProgress& p) { bar.update(p); };
    auto rec = image::pull_image(*store, ref, opts);
    if (!rec) {
        fmt::print(stderr, "gantryctl image pull: {}\n", rec.error());
        return 1;
    }
    fmt::print("{}\nDigest: {}\n", rec->name, rec->digest.str());
    return 0;
}

int image_import(const ImageArgs& a) {
    std::string path, name;
    image::ImportOptions opts;
    for (size_t i = 0; i < a.rest.size(); ++i) {
        const std::string& s = a.rest[i];
        if (s == "--platform" && i + 1 < a.rest.size()) {
            auto p = platform_arg(a.rest[++i]);
            if (!p) {
                fmt::print(stderr, "gantryctl image import: {}\n", p.error());
                return 2;
            }
            opts.platform = *p;
        } else if (path.empty()) {
            path = s;
        } else if (opts.name.empty()) {
            opts.name = s;
        } else {
            fmt::print(stderr, "gantryctl image import: unexpected argument '{}'\n", s);
            return 2;
        }
    }
    if (path.empty()) {
        fmt::print(stderr, "usage: gantryctl image import FILE|DIR [NAME] [--platform P]\n");
        return 2;
    }
    auto store = image::Store::open(a.store);
    if (!store) {
        fmt::print(stderr, "gantryctl image import: {}\n", store.error());
        return 1;
    }
    auto recs = image::import_archive(*store, path, opts);
    if (!recs) {
        fmt::print(stderr, "gantryctl image import: {}\n", recs.error());
        return 1;
    }
    for (const auto& r : *recs) {
        fmt::print("Loaded image: {} ({})\n", r.name, r.digest.str());
    }
    return 0;
}

}  // namespace gantry::ctl
