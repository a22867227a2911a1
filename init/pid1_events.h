// PID 1's machine-readable channel to the host: one JSON object a line on the
// virtio-serial port named gantry.events (docs/qemu-tests.md). Without udev there are no
// /dev/virtio-ports/NAME links, so the port is found by its sysfs name.
#pragma once

#include <string>
#include <string_view>

#include "base/fd.h"

namespace gantry::init {

// CLOCK_BOOTTIME in seconds: the kernel's own start is 0, so the host can line up every
// step of the boot, the kernel's part included.
double boottime();

// PID 1 sets this to its first boottime() before it moves the initramfs to a tmpfs and
// starts again, so the "pid1" event is the kernel's hand-over, not the second start.
inline constexpr const char* kPid1TimeEnv = "GANTRY_PID1_T";

// "/dev/vportNpM" of the virtio-serial port called `name`, or "" if there is none (yet).
std::string find_virtio_port(std::string_view name, const std::string& sysfs_root = "/sys");

// `"key":value` pairs joined by commas, values already JSON; see json_str().
std::string json_str(std::string_view s);

class EventChannel {
  public:
    // Opens the port, waiting up to `wait_ms` for it to show up (virtio_console probes
    // asynchronously after its module loads), checking every 2 ms. Returns how long it
    // waited, in ms. Without a port, events go nowhere.
    double open(int wait_ms);
    bool connected() const { return fd_.valid(); }
    // Writes {"event":NAME,"t":T,<fields>}. `fields` is "" or `"k":v,...` (valid JSON).
    // One write(2) a line, so forked helpers sharing the fd never interleave within a line.
    void emit(std::string_view name, std::string_view fields = "", double t = boottime()) const;
    int fd() const { return fd_.get(); }

  private:
    Fd fd_;
};

}  // namespace gantry::init
