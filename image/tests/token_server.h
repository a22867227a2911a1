// A registry token server for root tests (the docker/distribution token-auth spec): signs
// ES256 JWTs with a self-signed certificate (sent as "x5c") that the registry is told to
// trust through `auth.token.rootcertbundle`. Grants every action a scope asks for.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace gantry::image::testing {

class TokenServer {
  public:
    // `dir` receives key.pem and cert.pem (made with the openssl CLI).
    TokenServer(const std::string& dir, std::string issuer, std::string service);
    ~TokenServer();
    bool ok() const { return ok_; }
    std::string realm() const { return "http://127.0.0.1:" + std::to_string(port_) + "/token"; }
    std::string cert_path() const { return dir_ + "/cert.pem"; }
    int tokens_issued() const { return issued_; }

  private:
    void serve();
    std::string sign(const std::string& scope);

    std::string dir_, issuer_, service_;
    bool ok_ = false;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> issued_{0};
    std::thread thread_;
};

}  // namespace gantry::image::testing
