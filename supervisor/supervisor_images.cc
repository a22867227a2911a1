// The supervisor's side of images that are not ready (image_fetcher.h): a service whose
// image is missing or not unpacked waits in `waiting` ("pulling IMAGE") while the image
// helper runs; it starts when the image arrives, or fails with the helper's error and its
// restart policy decides.
#include "base/log.h"
#include "supervisor/from_config.h"
#include "supervisor/image_fetcher.h"
#include "supervisor/supervisor.h"
#include "supervisor/unit.h"

namespace gantry::supervisor {

bool Supervisor::tracks(pid_t pid) const {
    ImageFetcher* images = driver_.images();
    return tracked_.contains(pid) || (images != nullptr && images->tracks(pid));
}

// Whether the service's image can be used now. If not, the image helper is started (or
// joined) and the service waits with a reason saying so; image_arrived() carries on.
bool Supervisor::image_ready(Unit& u) {
    ImageFetcher* images = driver_.images();
    if (u.spec.image.empty() || images == nullptr || !u.spec.image_error.empty()) {
        return true;  // an image_error fails at start, with its message
    }
    if (u.image_wait) {
        // A helper run for it is under way (started before a stop and start again).
        u.m.reason = fmt::format("pulling {}", u.spec.image);
        return false;
    }
    if (images->ready(u.spec.image)) {
        return resolve_pending(u);
    }
    std::string why = fmt::format("{} {}", is_transport_ref(u.spec.image) ? "importing" : "pulling",
                                  u.spec.image);
    std::string name = u.spec.name;
    auto st = images->fetch(loop_, u.spec.image, [this, name](Status result) {
        image_arrived(name, std::move(result));
    });
    if (!st) {
        feed(u, {EventKind::SpawnFailed, {}, false, st.error().str()});
        return false;
    }
    u.image_wait = true;
    u.m.reason = why;
    emit(u.spec.name, "waiting", "waiting", why);
    return false;
}

void Supervisor::image_arrived(const std::string& name, Status result) {
    Unit* u = find(name);
    if (u == nullptr || !u->image_wait) {
        return;
    }
    u->image_wait = false;
    if (u->m.state != State::Waiting || shutting_down_) {
        return;  // stopped meanwhile: the image stays in the store for the next start
    }
    if (result && !driver_.images()->ready(u->spec.image)) {
        result =
            fail(Error::msg("image {}: the helper reported it ready, but the store does "
                            "not have it complete (removed meanwhile?)",
                            u->spec.image));
    }
    if (!result) {
        u->log.feed(Stream::Stderr, fmt::format("gantry: {}\n", result.error().str()),
                    realtime_us());
        feed(*u, {EventKind::SpawnFailed, {}, false, result.error().str()});
        return;
    }
    if (resolve_pending(*u)) {
        check_deps(*u);
    }
}

// A service loaded before its image was in the store lacks the image's defaults
// (entrypoint, cmd, env, user, workdir, healthcheck): map it again now.
bool Supervisor::resolve_pending(Unit& u) {
    if (!u.spec.pending_image) {
        return true;
    }
    auto img = driver_.images()->local(u.spec.image);
    Result<ServiceSpec> fresh =
        img ? resolve_pending_image(*u.spec.pending_image, img->config.config)
            : Result<ServiceSpec>(fail(std::move(img).error()));
    if (fresh) {
        if (auto st = validate(*fresh); !st) {
            fresh = fail(std::move(st).error());
        }
    }
    if (!fresh) {
        feed(u, {EventKind::SpawnFailed,
                 {},
                 false,
                 fmt::format("image {}: {}", u.spec.image, fresh.error().str())});
        return false;
    }
    fresh->depends_on = u.spec.depends_on;  // the graph was built from these
    u.spec = std::move(*fresh);
    u.policy = Policy::from(u.spec);
    return true;
}

}  // namespace gantry::supervisor
