// The machine's own links, set with ioctl(2) by PID 1: `lo` up, and static IPv4 addresses
// and a default route from `network.interfaces`. A stopgap until gantry-netd (netlink,
// DHCP, container networks) exists; `network_mode: host` services and QEMU's port
// forwards (to the guest's 10.0.2.15) need at least this.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace gantry::init {

struct LinkStep {
    std::string name;     // eth0
    std::string ipv4;     // "" = only bring the link up
    int prefix = 0;       // 0..32
    std::string gateway;  // "" = no default route
    uint32_t mtu = 0;     // 0 = leave it
};

// "10.0.2.15/24" -> {"10.0.2.15", 24}; IPv6 or a bad address is an error.
Result<std::pair<std::string, int>> parse_ipv4_cidr(std::string_view cidr);

// Brings `lo` up, then each step in order: MTU, address and netmask, up, default route.
// Failures are collected, not fatal.
std::vector<Error> apply_links(const std::vector<LinkStep>& steps);

}  // namespace gantry::init
