#include "init/helper_reports.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

namespace gantry::init {

Result<std::unique_ptr<HelperReports>> HelperReports::watch(EventLoop& loop, Fd read_end,
                                                            ByteFn on_byte, EndFn on_end) {
    std::unique_ptr<HelperReports> r(new HelperReports());
    r->loop_ = &loop;
    r->fd_ = std::move(read_end);
    r->on_byte_ = std::move(on_byte);
    r->on_end_ = std::move(on_end);
    HelperReports* self = r.get();
    r->src_ =
        GANTRY_TRY(loop.on_io(r->fd_.get(), EPOLLIN, [self](uint32_t) { self->on_readable(); }));
    return r;
}

void HelperReports::on_readable() {
    if (!ended_) {
        char buf[16];
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        for (ssize_t i = 0; i < n; ++i) {
            on_byte_(buf[i]);
        }
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) {
            return;
        }
        ended_ = true;
        on_end_();
    }
    // Freeing the source here would free the callback that is running. If the deferred
    // turn cannot be had (no memory), the hang-up wakes us again and we try again.
    if (!cleanup_.valid()) {
        if (auto d = loop_->defer([this] {
                src_.reset();
                fd_.reset();
            })) {
            cleanup_ = std::move(*d);
        }
    }
}

}  // namespace gantry::init
