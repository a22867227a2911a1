// gantry-kv's scheduling policy. Every put waits for the disk two or three times (data
// write, inode write when mtime moved, cache flush), and each wait ends with a wake-up
// that must find a CPU. On a busy machine a normal (SCHED_OTHER) task woken while a
// compute-bound task holds the CPU waits for the next scheduler tick (4 ms here: this
// kernel defers fair-class wake-up preemption of a task running in user space to the
// tick), so a put costs a tick or more whatever the server does. A SCHED_FIFO task preempts
// at once. bench/kv/sync_probe measures it: a pwrite+fdatasync loop did ~250/s as a normal
// task and ~2,900/s as SCHED_FIFO on the same loaded machine.
#pragma once

#include "base/error.h"

namespace gantry::kv {

// Puts the calling process (one thread) in SCHED_FIFO at `priority` (1..99) with
// SCHED_RESET_ON_FORK; 0 leaves it SCHED_OTHER. Fails with EPERM without CAP_SYS_NICE
// (or RLIMIT_RTPRIO).
Status use_realtime(int priority);

}  // namespace gantry::kv
