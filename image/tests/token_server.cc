#include "image/tests/token_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::image::testing {

namespace {

std::string b64(const std::string& in, bool url) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    if (url) {
        while (!out.empty() && out.back() == '=') {
            out.pop_back();
        }
        for (auto& c : out) {
            c = c == '+' ? '-' : c == '/' ? '_' : c;
        }
    }
    return out;
}

std::string url_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i] == '+' ? ' ' : s[i]);
        }
    }
    return out;
}

}  // namespace

TokenServer::TokenServer(const std::string& dir, std::string issuer, std::string service)
    : dir_(dir), issuer_(std::move(issuer)), service_(std::move(service)) {
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        "-nodes -days 1 -subj /CN=gantry-token -keyout " +
        dir_ + "/key.pem -out " + dir_ + "/cert.pem >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
        return;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ok_ = true;
    thread_ = std::thread([this] { serve(); });
}

TokenServer::~TokenServer() {
    stop_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

std::string TokenServer::sign(const std::string& scopes) {
    FILE* kf = std::fopen((dir_ + "/key.pem").c_str(), "re");
    EVP_PKEY* key = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
    std::fclose(kf);
    FILE* cf = std::fopen((dir_ + "/cert.pem").c_str(), "re");
    X509* cert = PEM_read_X509(cf, nullptr, nullptr, nullptr);
    std::fclose(cf);
    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert, &der);
    std::string cert_der(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
    X509_free(cert);

    nlohmann::json access = nlohmann::json::array();
    // scope=repository:NAME:pull,push (several scopes separated by spaces).
    for (const auto& scope : split(scopes, ' ')) {
        auto parts = split(scope, ':');
        if (parts.size() < 3) {
            continue;
        }
        std::string actions = parts.back();
        parts.pop_back();
        std::string type = parts.front();
        parts.erase(parts.begin());
        access.push_back(
            {{"type", type}, {"name", join(parts, ":")}, {"actions", split(actions, ',')}});
    }
    int64_t now = std::time(nullptr);
    nlohmann::json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"x5c", {b64(cert_der, false)}}};
    nlohmann::json claims = {{"iss", issuer_},
                             {"sub", "gantry"},
                             {"aud", service_},
                             {"exp", now + 600},
                             {"nbf", now - 60},
                             {"iat", now},
                             {"jti", std::to_string(now) + std::to_string(issued_)},
                             {"access", access}};
    std::string input = b64(header.dump(), true) + "." + b64(claims.dump(), true);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    size_t sig_len = 0;
    EVP_DigestSign(ctx, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(sig_len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(sig_len);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    // JWS wants R||S (32 bytes each), OpenSSL gives DER.
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return input + "." + b64(raw, true);
}

void TokenServer::serve() {
    while (!stop_) {
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        Fd c(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) {
            continue;
        }
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
            ssize_t n = ::read(c.get(), buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            req.append(buf, static_cast<size_t>(n));
        }
        std::string line = req.substr(0, req.find("\r\n"));
        std::string target = line.substr(line.find(' ') + 1);
        target = target.substr(0, target.find(' '));
        std::string scopes;
        auto q = target.find('?');
        if (q != std::string::npos) {
            for (const auto& kv : split(target.substr(q + 1), '&')) {
                if (kv.starts_with("scope=")) {
                    scopes += (scopes.empty() ? "" : " ") + url_decode(kv.substr(6));
                }
            }
        }
        std::string tok = sign(scopes);
        ++issued_;
        std::string body = nlohmann::json{{"token", tok}, {"access_token", tok}}.dump();
        (void)write_all(c.get(),
                        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: "
                        "application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body);
    }
}

}  // namespace gantry::image::testing
