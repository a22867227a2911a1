// gantry-kv runs on the CPUs that take its disk's completion interrupts.
//
// Every put waits for the disk twice (the data write, the cache flush). Each completion
// is an interrupt on the CPU the interrupt is routed to, which then wakes the loop. If the
// loop sleeps on another CPU, that wake-up is an inter-processor interrupt, and on a VM
// whose idle CPUs halt (this machine: a PVM guest without a cpuidle driver) it also exits
// the halt of the loop's CPU. On the CPU of the interrupt the wake-up is local. Measured
// (bench/kv/kv_bench put tests against a second gantry-kv, alternating, load 6-7): pinned to
// the virtio-blk interrupt's CPU, 1 client +13% puts/s and -27% server CPU per put, 16
// clients +18% and -22%; pinned to the other CPU, -10% and -18% (docs/kv.md).
//
// Plan and apply: storage_irq_cpus() reads sysfs and procfs (roots are parameters, so
// tests use a fake tree) and returns the CPUs; pin_to() applies them; StoragePin does both
// again whenever the server asks (every 10 s), so the pinning follows an interrupt that
// irqbalance or an administrator moved.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::kv {

// "0-2,5" -> {0,1,2,5}; an error on anything else.
Result<std::set<int>> parse_cpu_list(std::string_view s);

struct IrqCpus {
    std::set<int> cpus;     // union of the effective affinity of the IRQs that fired
    std::string device;     // the sysfs device that owns the IRQs (for the log)
    std::vector<int> irqs;  // the IRQs that fired
};

// The CPUs that take the completion interrupts of the block device holding `dev` (the
// st_dev of the data directory): the device's MSI IRQs (found by walking up from
// <sys>/dev/block/MAJ:MIN/device to the first directory with msi_irqs/; a partition is
// resolved to its disk) that have fired at least once (per <sys>/kernel/irq/N/per_cpu_count,
// which leaves out a virtio device's config interrupt), each with
// <proc>/irq/N/effective_affinity_list. An error if any step finds nothing (not a block
// device, no MSI IRQs: a virtual filesystem, a container without /sys).
Result<IrqCpus> storage_irq_cpus(dev_t dev, const std::string& sys = "/sys",
                                 const std::string& proc = "/proc");

// The CPUs the calling thread may run on now.
Result<std::set<int>> allowed_cpus();

// sched_setaffinity of the calling thread to `cpus` ∩ `allowed`. Returns false without
// changing anything if that leaves nothing or is where it runs already.
Result<bool> pin_to(const std::set<int>& cpus, const std::set<int>& allowed);
// The same within the CPUs it may use now.
Result<bool> pin_to(const std::set<int>& cpus);

// Keeps the calling thread on the CPUs that take the interrupts of the disk holding `dev`,
// within the CPUs it was allowed when created (so that it can move back to a CPU its
// earlier pinning left out).
class StoragePin {
  public:
    StoragePin(dev_t dev, std::string sys = "/sys", std::string proc = "/proc");
    // Reads the interrupts' CPUs again and moves there if they changed. Returns the CPUs it
    // moved to, nothing if it stayed, or an error (the caller logs it; the thread stays
    // where it was).
    Result<std::optional<std::set<int>>> refresh();
    // What the last refresh() found, for the log.
    const IrqCpus& last() const { return last_; }

  private:
    dev_t dev_;
    std::string sys_, proc_;
    std::set<int> allowed_;  // empty: not read yet
    IrqCpus last_;
};

}  // namespace gantry::kv
