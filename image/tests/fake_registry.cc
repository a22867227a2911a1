#include "image/tests/fake_registry.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "image/digest.h"

namespace gantry::image::testing {

FakeRegistry::FakeRegistry(std::string layout_dir, std::string repo, Faults faults)
    : layout_(std::move(layout_dir)), repo_(std::move(repo)), faults_(std::move(faults)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
}

FakeRegistry::~FakeRegistry() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
}

std::vector<std::string> FakeRegistry::requests() {
    std::lock_guard l(mu_);
    return requests_;
}

void FakeRegistry::serve() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) {
            continue;
        }
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            handle(fd);
            ::close(fd);
        }
    }
}

std::string FakeRegistry::blob_bytes(const std::string& digest) {
    auto d = Digest::parse(digest);
    if (!d) {
        return {};
    }
    auto r = read_file(layout_ + "/blobs/sha256/" + d->hex());
    return r ? *r : std::string();
}

void FakeRegistry::handle(int fd) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
            return;
        }
        req.append(buf, static_cast<size_t>(n));
    }
    std::string line = req.substr(0, req.find("\r\n"));
    std::string path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    auto header = [&](const std::string& name) -> std::string {
        auto pos = req.find("\r\n" + name + ": ");
        if (pos == std::string::npos) {
            return "";
        }
        pos += name.size() + 4;
        return req.substr(pos, req.find("\r\n", pos) - pos);
    };
    int n;
    {
        std::lock_guard l(mu_);
        requests_.push_back(line);
        n = ++count_;
    }
    auto reply = [&](int status, const std::string& type, const std::string& body,
                     const std::string& extra = "") {
        std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\nConnection: close\r\n" +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra;
        if (!type.empty()) {
            head += "Content-Type: " + type + "\r\n";
        }
        (void)write_all(fd, head + "\r\n" + body);
    };
    if (n <= faults_.unavailable_first) {
        return reply(503, "application/json", R"({"errors":[{"code":"UNAVAILABLE"}]})");
    }
    std::string self = "http://127.0.0.1:" + std::to_string(port_);
    if (path.starts_with("/token")) {
        if (path.find("scope=repository%3A") == std::string::npos) {
            return reply(400, "", "no scope");
        }
        return reply(200, "application/json", R"({"token":"good-token"})");
    }
    if (!faults_.basic_auth.empty() && header("Authorization") != "Basic " + faults_.basic_auth) {
        return reply(401, "application/json", R"({"errors":[{"code":"UNAUTHORIZED"}]})",
                     "WWW-Authenticate: Basic realm=\"fake\"\r\n");
    }
    if (faults_.require_token && header("Authorization") != "Bearer good-token") {
        return reply(401, "application/json", R"({"errors":[{"code":"UNAUTHORIZED"}]})",
                     "WWW-Authenticate: Bearer realm=\"" + self +
                         "/token\",service=\"fake\",scope=\"repository:" + repo_ + ":pull\"\r\n");
    }
    std::string prefix = "/v2/" + repo_ + "/";
    if (!path.starts_with(prefix)) {
        return reply(404, "", "");
    }
    std::string rest = path.substr(prefix.size());
    if (rest.starts_with("manifests/")) {
        std::string ref = rest.substr(10);
        auto idx = nlohmann::json::parse(*read_file(layout_ + "/index.json"));
        std::string digest;
        std::string type;
        for (const auto& m : idx["manifests"]) {
            if (m["digest"] == ref ||
                m["annotations"].value("org.opencontainers.image.ref.name", "") == ref) {
                digest = m["digest"];
                type = m["mediaType"];
            }
        }
        std::string body = digest.empty() ? blob_bytes(ref) : blob_bytes(digest);
        if (body.empty()) {
            return reply(404, "application/json", R"({"errors":[{"code":"MANIFEST_UNKNOWN"}]})");
        }
        if (type.empty()) {
            type = nlohmann::json::parse(body).value("mediaType", "");
        }
        return reply(200, type, body, "Docker-Content-Digest: " + sha256_of(body).str() + "\r\n");
    }
    if (rest.starts_with("blobs/")) {
        std::string digest = rest.substr(6);
        std::string body = blob_bytes(digest);
        if (body.empty()) {
            return reply(404, "", "");
        }
        if (digest == faults_.corrupt_digest) {
            body[body.size() / 2] ^= 1;
        }
        std::string range = header("Range");
        if (!range.empty()) {
            ++ranges_;
            size_t from = std::stoul(range.substr(range.find('=') + 1));
            return reply(206, "application/octet-stream", body.substr(from),
                         "Content-Range: bytes " + std::to_string(from) + "-" +
                             std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) +
                             "\r\n");
        }
        if (faults_.cut_first_blob && !cut_done_ && body.size() > 1000) {
            cut_done_ = true;
            std::string head =
                "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
            (void)write_all(fd, head + body.substr(0, body.size() / 2));
            return;  // the connection closes mid-body
        }
        return reply(200, "application/octet-stream", body);
    }
    reply(404, "", "");
}

}  // namespace gantry::image::testing
