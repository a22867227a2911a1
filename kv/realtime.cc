#include "kv/realtime.h"

#include <sched.h>

namespace gantry::kv {

Status use_realtime(int priority) {
    if (priority <= 0) {
        return ok();
    }
    sched_param p{};
    p.sched_priority = priority;
    if (::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) < 0) {
        return fail(Error::sys("sched_setscheduler(SCHED_FIFO, {})", priority));
    }
    return ok();
}

}  // namespace gantry::kv
