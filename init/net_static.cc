#include "init/net_static.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

#include "base/fd.h"

namespace gantry::init {

namespace {

sockaddr_in inet(in_addr_t addr) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = addr;
    return sin;
}

ifreq request(const std::string& name) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ifr;
}

Status link_up(int sock, const std::string& name) {
    ifreq ifr = request(name);
    if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        return fail(Error::sys("{}: read flags", name));
    }
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
        return fail(Error::sys("{}: bring up", name));
    }
    return ok();
}

Status apply_one(int sock, const LinkStep& s) {
    if (s.mtu != 0) {
        ifreq ifr = request(s.name);
        ifr.ifr_mtu = static_cast<int>(s.mtu);
        if (::ioctl(sock, SIOCSIFMTU, &ifr) < 0) {
            return fail(Error::sys("{}: set mtu {}", s.name, s.mtu));
        }
    }
    if (!s.ipv4.empty()) {
        in_addr addr{};
        if (::inet_pton(AF_INET, s.ipv4.c_str(), &addr) != 1) {
            return fail(Error::msg("{}: bad address {}", s.name, s.ipv4));
        }
        ifreq ifr = request(s.name);
        sockaddr_in sin = inet(addr.s_addr);
        std::memcpy(&ifr.ifr_addr, &sin, sizeof sin);
        if (::ioctl(sock, SIOCSIFADDR, &ifr) < 0) {
            return fail(Error::sys("{}: set address {}", s.name, s.ipv4));
        }
        uint32_t mask = s.prefix == 0 ? 0 : htonl(~uint32_t{0} << (32 - s.prefix));
        sin = inet(mask);
        std::memcpy(&ifr.ifr_netmask, &sin, sizeof sin);
        if (::ioctl(sock, SIOCSIFNETMASK, &ifr) < 0) {
            return fail(Error::sys("{}: set netmask /{}", s.name, s.prefix));
        }
    }
    GANTRY_TRY(link_up(sock, s.name));
    if (!s.gateway.empty()) {
        in_addr gw{};
        if (::inet_pton(AF_INET, s.gateway.c_str(), &gw) != 1) {
            return fail(Error::msg("{}: bad gateway {}", s.name, s.gateway));
        }
        rtentry rt{};
        sockaddr_in any = inet(INADDR_ANY), via = inet(gw.s_addr);
        std::memcpy(&rt.rt_dst, &any, sizeof any);
        std::memcpy(&rt.rt_genmask, &any, sizeof any);
        std::memcpy(&rt.rt_gateway, &via, sizeof via);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        std::string dev = s.name;
        rt.rt_dev = dev.data();
        if (::ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
            return fail(Error::sys("{}: default route via {}", s.name, s.gateway));
        }
    }
    return ok();
}

}  // namespace

Result<std::pair<std::string, int>> parse_ipv4_cidr(std::string_view cidr) {
    auto slash = cidr.find('/');
    std::string addr(cidr.substr(0, slash));
    int prefix = 32;
    if (slash != std::string_view::npos) {
        std::string_view p = cidr.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (ec != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > 32) {
            return fail(Error::msg("{}: the prefix must be 0..32", cidr));
        }
    }
    in_addr a{};
    if (::inet_pton(AF_INET, addr.c_str(), &a) != 1) {
        return fail(Error::msg("{}: not an IPv4 address", cidr));
    }
    return std::pair{addr, prefix};
}

std::vector<Error> apply_links(const std::vector<LinkStep>& steps) {
    std::vector<Error> errors;
    Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock.valid()) {
        errors.push_back(Error::sys("socket for link setup"));
        return errors;
    }
    if (auto st = link_up(sock.get(), "lo"); !st) {
        errors.push_back(std::move(st).error());
    }
    for (const auto& s : steps) {
        if (auto st = apply_one(sock.get(), s); !st) {
            errors.push_back(std::move(st).error());
        }
    }
    return errors;
}

}  // namespace gantry::init
