// PID 1's end of a helper's report pipe. A helper (a fork of PID 1 that runs code while the
// loop goes on: the late modules and network.interfaces) reports with single bytes on a
// pipe whose only write end it holds. Each byte is handed to `on_byte`; end of file, which
// is also what PID 1 sees when the helper crashes or is killed, calls `on_end` once, so
// nothing stays held waiting for a report that will never come. The pipe's source goes on
// the next turn of the loop, not inside its own callback: a closed pipe left on the loop
// would wake it forever.
#pragma once

#include <functional>
#include <memory>

#include "base/error.h"
#include "base/event_loop.h"
#include "base/fd.h"

namespace gantry::init {

class HelperReports {
  public:
    using ByteFn = std::function<void(char)>;
    using EndFn = std::function<void()>;

    // Watches `read_end` on `loop` (which must outlive the result).
    static Result<std::unique_ptr<HelperReports>> watch(EventLoop& loop, Fd read_end,
                                                        ByteFn on_byte, EndFn on_end);
    HelperReports(const HelperReports&) = delete;
    HelperReports& operator=(const HelperReports&) = delete;

    // The helper is done (or died) and the pipe is closed.
    bool ended() const { return ended_ && !fd_; }

  private:
    HelperReports() = default;
    void on_readable();

    EventLoop* loop_ = nullptr;
    Fd fd_;
    Source src_;
    Source cleanup_;
    ByteFn on_byte_;
    EndFn on_end_;
    bool ended_ = false;
};

}  // namespace gantry::init
