// ContainerDriver: services with `image:` run as containers through libgantry-runtime.
//
// start(): the image is read from the store (the supervisor has waited for the image
// helper when it was missing or not unpacked: image_fetcher.h), its unpacked layers are
// mounted as an overlayfs root under <state>/containers/<name>/rootfs (a writable upper, or
// none with read_only), and a runtime::Spec is built from the ServiceSpec
// (container_spec.h) with Gantry's default profile. The container's init is the service's
// main process; the supervisor watches and reaps it through a dup of the pidfd.
//
// Services without an image (the JSON service files of the tests, system daemons) keep
// running as host processes: RoutingDriver picks the driver per service.
#pragma once

#include <map>
#include <string>

#include "image/ensure.h"
#include "runtime/container.h"
#include "supervisor/driver.h"
#include "supervisor/image_fetcher.h"

namespace gantry::supervisor {

struct ContainerDriverOptions {
    std::string store_dir = "/var/lib/gantry/images";
    // Holds containers/<name>/{rootfs} (the overlay mount point); upper/work live in the
    // image store (image::prepare_rootfs).
    std::string state_dir = "/run/gantry";
    std::string cgroup_root = "/sys/fs/cgroup";
    // Each container's cgroup is <cgroup_root>/<cgroup_parent>/<service>.
    std::string cgroup_parent = "gantry";
    image::PullPolicy pull = image::PullPolicy::kMissing;
    // The image helper binary; "" = beside gantry-init, else /usr/bin/gantry-image.
    std::string image_helper;
};

class ContainerDriver : public Driver {
  public:
    explicit ContainerDriver(ContainerDriverOptions opts)
        : opts_(std::move(opts)), images_({opts_.store_dir, opts_.image_helper, opts_.pull}) {}
    ~ContainerDriver() override;

    Result<Started> start(const ServiceSpec& spec, const StartIo& io) override;
    Result<PidFd> exec(const ServiceSpec& spec, const Started* running,
                       const std::vector<std::string>& argv, int output_fd) override;
    Status kill(const ServiceSpec& spec, const Started& s, int sig, bool all) override;
    bool owns(const Started& s, pid_t pid) override;
    Usage usage(const Started& s) override;
    void cleanup(const ServiceSpec& spec, const Started& s) override;
    ImageFetcher* images() override { return &images_; }

  private:
    struct Running {
        runtime::Container container;
        runtime::Process process;  // the main process, the template for exec
        std::string rootfs;
    };
    Result<Started> start_locked(const ServiceSpec& spec, const StartIo& io);

    ContainerDriverOptions opts_;
    ImageFetcher images_;
    std::map<std::string, Running> running_;  // by service name
};

// One driver for the supervisor: containers for services with an image, host processes
// for the rest.
class RoutingDriver : public Driver {
  public:
    RoutingDriver(Driver& process, Driver& container) : process_(process), container_(container) {}

    Result<Started> start(const ServiceSpec& spec, const StartIo& io) override {
        return pick(spec).start(spec, io);
    }
    Result<PidFd> exec(const ServiceSpec& spec, const Started* running,
                       const std::vector<std::string>& argv, int output_fd) override {
        return pick(spec).exec(spec, running, argv, output_fd);
    }
    Status kill(const ServiceSpec& spec, const Started& s, int sig, bool all) override {
        return pick(spec).kill(spec, s, sig, all);
    }
    // owns/usage have no spec; both drivers answer from the Started alone, and the
    // container driver's answers are right for host processes too (same pid namespace).
    bool owns(const Started& s, pid_t pid) override {
        return container_.owns(s, pid) || process_.owns(s, pid);
    }
    Usage usage(const Started& s) override { return process_.usage(s); }
    void cleanup(const ServiceSpec& spec, const Started& s) override {
        pick(spec).cleanup(spec, s);
    }
    ImageFetcher* images() override { return container_.images(); }

  private:
    Driver& pick(const ServiceSpec& spec) { return spec.image.empty() ? process_ : container_; }
    Driver& process_;
    Driver& container_;
};

}  // namespace gantry::supervisor
