#include "image/registry.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cctype>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

namespace gantry::image {

namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr std::string_view kAcceptManifests =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::string lower(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string url_escape(CURL* c, const std::string& s) {
    char* e = curl_easy_escape(c, s.c_str(), static_cast<int>(s.size()));
    std::string out = e != nullptr ? e : "";
    curl_free(e);
    return out;
}

struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;  // lowercase names, last response only
    std::string body;                            // when not streaming
    CURLcode code = CURLE_OK;
    std::string curl_error;
};

// Where a response body goes: a size-limited string, or a blob being written.
struct Sink {
    Response* resp = nullptr;
    size_t limit = kMaxManifest;
    BlobWriter* blob = nullptr;
    bool restart_blob = false;  // asked for a Range but got the whole body
    bool asked_range = false;
    Status error = ok();
    std::function<void(uint64_t)> on_bytes;
};

size_t header_cb(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {
        s->resp->headers.clear();  // a new response (redirect or 100-continue) begins
        auto sp = line.find(' ');
        if (sp != std::string_view::npos) {
            s->resp->status = std::atol(std::string(line.substr(sp + 1, 3)).c_str());
        }
        s->restart_blob = s->asked_range && s->resp->status == 200;
    } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
        std::string v(line.substr(colon + 1));
        while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
            v.pop_back();
        }
        size_t i = v.find_first_not_of(' ');
        s->resp->headers[lower(std::string(line.substr(0, colon)))] =
            i == std::string::npos ? "" : v.substr(i);
    }
    return size * n;
}

size_t write_cb(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    size_t len = size * n;
    // Bodies of redirects and errors are not content: only keep a 2xx body.
    if (s->resp->status < 200 || s->resp->status >= 300 || s->blob == nullptr) {
        if (s->resp->body.size() + len > s->limit) {
            s->error = fail(Error::msg("response larger than {} bytes", s->limit));
            return 0;
        }
        s->resp->body.append(data, len);
        return len;
    }
    if (s->restart_blob) {
        s->restart_blob = false;
        if (auto r = s->blob->restart(); !r) {
            s->error = std::move(r);
            return 0;
        }
    }
    if (auto r = s->blob->write(std::string_view(data, len)); !r) {
        s->error = std::move(r);
        return 0;
    }
    if (s->on_bytes) {
        s->on_bytes(s->blob->size());
    }
    return len;
}

bool transient(const Response& r) {
    switch (r.code) {
        case CURLE_OK:
            return r.status >= 500 || r.status == 429 || r.status == 408;
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return true;
        default:
            return false;
    }
}

struct CurlFree {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

class Client {
  public:
    Client(const Reference& ref, const PullOptions& opts) : ref_(ref), opts_(opts) {
        static const bool inited = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == 0; }();
        (void)inited;
        curl_.reset(curl_easy_init());
        bool plain = opts.plain_http.value_or(ref.is_loopback());
        base_ = (plain ? "http://" : "https://") + ref.registry_host() + "/v2/" + ref.path;
    }

    // GET with auth and retries. `sink` decides where the body goes.
    Result<Response> get(const std::string& url, std::string_view accept, BlobWriter* blob,
                         const std::function<void(uint64_t)>& on_bytes) {
        bool auth_tried = false;
        for (int attempt = 0;; ++attempt) {
            Response resp;
            Sink sink{&resp};
            sink.blob = blob;
            sink.on_bytes = on_bytes;
            std::vector<std::string> hdrs;
            if (!accept.empty()) {
                hdrs.push_back("Accept: " + std::string(accept));
            }
            if (!auth_header_.empty()) {
                // curl drops custom Authorization headers on redirects to another host
                // (since 7.58), so a blob redirect to a CDN does not leak the token.
                hdrs.push_back(auth_header_);
            }
            if (blob != nullptr && blob->size() > 0) {
                hdrs.push_back(fmt::format("Range: bytes={}-", blob->size()));
                sink.asked_range = true;
            }
            perform(url, hdrs, &sink, &resp);
            if (!sink.error) {
                return fail(std::move(sink.error.error()).context(fmt::format("GET {}", url)));
            }
            if (resp.code == CURLE_OK && resp.status == 401 && !auth_tried) {
                auth_tried = true;
                GANTRY_TRY_CTX(authenticate(resp), "GET {}", url);
                --attempt;  // an auth round-trip is not a failure
                if (blob != nullptr) {
                    GANTRY_TRY(blob->restart());
                }
                continue;
            }
            if (resp.code == CURLE_OK && resp.status == 416 && blob != nullptr) {
                GANTRY_TRY(blob->restart());  // our partial data is not what they have
                continue;
            }
            if (transient(resp) && attempt < opts_.retries) {
                std::this_thread::sleep_for(opts_.retry_delay * (1 << attempt));
                continue;
            }
            if (resp.code != CURLE_OK) {
                return fail(Error::msg("GET {}: {}", url, resp.curl_error));
            }
            if (resp.status < 200 || resp.status >= 300) {
                return fail(Error::msg("GET {}: HTTP {}{}", url, resp.status, error_detail(resp)));
            }
            return resp;
        }
    }

    Result<std::pair<std::string, std::string>> manifest(const std::string& reference) {
        auto resp =
            GANTRY_TRY(get(base_ + "/manifests/" + reference, kAcceptManifests, nullptr, {}));
        auto type = resp.headers["content-type"];
        if (auto semi = type.find(';'); semi != std::string::npos) {
            type = type.substr(0, semi);
        }
        if (!is_index_type(type) && !is_manifest_type(type)) {
            // Some registries answer application/json; the document says what it is.
            type = GANTRY_TRY(sniff_media_type(resp.body));
        }
        Digest got = sha256_of(resp.body);
        if (reference.starts_with("sha256:") && got.str() != reference) {
            return fail(Error::msg("manifest {}: the registry sent content that hashes to {}",
                                   reference, got.str()));
        }
        if (auto h = resp.headers.find("docker-content-digest");
            h != resp.headers.end() && h->second != got.str()) {
            return fail(
                Error::msg("manifest {}: Docker-Content-Digest {} does not match the "
                           "content ({})",
                           reference, h->second, got.str()));
        }
        return std::pair{std::move(resp.body), type};
    }

    Status blob(Txn& txn, const Descriptor& d, const std::string& what) {
        auto w = GANTRY_TRY(txn.start_blob());
        auto report = [&](uint64_t done) {
            if (opts_.progress) {
                opts_.progress({what, d.digest, done, d.size, false});
            }
        };
        GANTRY_TRY(get(base_ + "/blobs/" + d.digest.str(), "", &w, report));
        return txn.finish_blob(std::move(w), d);
    }

  private:
    void perform(const std::string& url, const std::vector<std::string>& hdrs, Sink* sink,
                 Response* resp) {
        CURL* c = curl_.get();
        curl_easy_reset(c);
        curl_slist* list = nullptr;
        for (const auto& h : hdrs) {
            list = curl_slist_append(list, h.c_str());
        }
        char err[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, sink);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
        // A stalled transfer (under 1 byte/s for 30 s) counts as failed and is retried.
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, opts_.tls_verify ? 1L : 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, opts_.tls_verify ? 2L : 0L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "gantry/0.1");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        resp->code = curl_easy_perform(c);
        resp->curl_error = err[0] != '\0' ? err : curl_easy_strerror(resp->code);
        curl_slist_free_all(list);
    }

    static std::string error_detail(const Response& r) {
        // Registries explain errors as {"errors":[{"code":..,"message":..}]}.
        try {
            auto j = nlohmann::json::parse(r.body);
            const auto& e = j.at("errors").at(0);
            return fmt::format(" ({}: {})", e.value("code", ""), e.value("message", ""));
        } catch (const std::exception&) {
            return "";
        }
    }

    // base64("user:password"); libcurl has no public encoder, OpenSSL's EVP_EncodeBlock does.
    std::string basic_credentials() const {
        std::string creds = opts_.username + ":" + opts_.password;
        std::string out(4 * ((creds.size() + 2) / 3) + 1, '\0');
        int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(creds.data()),
                                static_cast<int>(creds.size()));
        out.resize(static_cast<size_t>(n));
        return out;
    }

    Status authenticate(const Response& resp) {
        auto it = resp.headers.find("www-authenticate");
        if (it == resp.headers.end()) {
            return fail(Error::msg("HTTP 401 without a WWW-Authenticate challenge"));
        }
        auto ch = GANTRY_TRY(parse_auth_challenge(it->second));
        if (ch.scheme == "basic") {
            if (opts_.username.empty()) {
                return fail(Error::msg("the registry wants a username and password"));
            }
            auth_header_ = "Authorization: Basic " + basic_credentials();
            return ok();
        }
        if (ch.scheme != "bearer") {
            return fail(Error::msg("unsupported auth scheme '{}'", ch.scheme));
        }
        std::string realm = ch.params["realm"];
        if (realm.empty()) {
            return fail(Error::msg("bearer challenge without a realm"));
        }
        std::string scope =
            ch.params.contains("scope") ? ch.params["scope"] : "repository:" + ref_.path + ":pull";
        std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&") +
                          "scope=" + url_escape(curl_.get(), scope);
        if (ch.params.contains("service")) {
            url += "&service=" + url_escape(curl_.get(), ch.params["service"]);
        }
        Response tok;
        Sink sink{&tok};
        std::vector<std::string> hdrs;
        if (!opts_.username.empty()) {
            hdrs.push_back("Authorization: Basic " + basic_credentials());
        }
        perform(url, hdrs, &sink, &tok);
        if (tok.code != CURLE_OK) {
            return fail(Error::msg("token from {}: {}", realm, tok.curl_error));
        }
        if (tok.status != 200) {
            return fail(
                Error::msg("token from {}: HTTP {}{}", realm, tok.status, error_detail(tok)));
        }
        try {
            auto j = nlohmann::json::parse(tok.body);
            std::string t = j.value("token", j.value("access_token", ""));
            if (t.empty()) {
                return fail(Error::msg("token from {}: no token in the answer", realm));
            }
            auth_header_ = "Authorization: Bearer " + t;
        } catch (const std::exception& e) {
            return fail(Error::msg("token from {}: {}", realm, e.what()));
        }
        return ok();
    }

    Reference ref_;
    const PullOptions& opts_;
    std::unique_ptr<CURL, CurlFree> curl_;
    std::string base_;
    std::string auth_header_;
};

}  // namespace

Result<AuthChallenge> parse_auth_challenge(std::string_view h) {
    AuthChallenge ch;
    size_t sp = h.find(' ');
    ch.scheme = lower(std::string(h.substr(0, sp)));
    if (sp == std::string_view::npos) {
        return ch;
    }
    std::string_view rest = h.substr(sp + 1);
    while (!rest.empty()) {
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == ',')) {
            rest.remove_prefix(1);
        }
        size_t eq = rest.find('=');
        if (eq == std::string_view::npos) {
            break;
        }
        std::string key = lower(std::string(rest.substr(0, eq)));
        rest.remove_prefix(eq + 1);
        std::string value;
        if (!rest.empty() && rest.front() == '"') {
            rest.remove_prefix(1);
            while (!rest.empty() && rest.front() != '"') {
                if (rest.front() == '\\' && rest.size() > 1) {
                    rest.remove_prefix(1);
                }
                value.push_back(rest.front());
                rest.remove_prefix(1);
            }
            if (rest.empty()) {
                return fail(Error::msg("WWW-Authenticate: unterminated quote in '{}'", h));
            }
            rest.remove_prefix(1);
        } else {
            size_t end = rest.find(',');
            value = std::string(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
        }
        ch.params[key] = value;
    }
    return ch;
}

Result<ImageRecord> pull_image(const Store& store, std::string_view text, const PullOptions& opts) {
    auto ref = GANTRY_TRY(Reference::parse(text));
    auto ctx = fmt::format("pull {}", ref.str());
    Client client(ref, opts);
    auto txn = GANTRY_TRY(store.begin());
    // 1. The top manifest: an index (pick a platform) or an image manifest.
    auto [body, type] = GANTRY_TRY_CTX(client.manifest(ref.api_reference()), "{}", ctx);
    Digest index_digest;
    if (is_index_type(type)) {
        auto idx = GANTRY_TRY_CTX(parse_index(body), "{}", ctx);
        auto chosen = GANTRY_TRY_CTX(select_platform(idx, opts.platform), "{}", ctx);
        index_digest = GANTRY_TRY(txn.put_bytes(body, type)).digest;
        std::tie(body, type) = GANTRY_TRY_CTX(client.manifest(chosen.digest.str()), "{}", ctx);
        if (!is_manifest_type(type)) {
            return fail(Error::msg("{}: the index entry for {} is a {}, not an image manifest", ctx,
                                   opts.platform.str(), type));
        }
    }
    auto manifest = GANTRY_TRY_CTX(parse_manifest(body), "{}", ctx);
    auto mdesc = GANTRY_TRY(txn.put_bytes(body, type));
    // 2. Config, then layers; blobs the store has are not downloaded again.
    for (size_t i = 0; i <= manifest.layers.size(); ++i) {
        const Descriptor& d = i == 0 ? manifest.config : manifest.layers[i - 1];
        const char* what = i == 0 ? "config" : "layer";
        if (i > 0 && !is_layer_type(d.media_type)) {
            return fail(Error::msg("{}: layer {} has unsupported media type '{}'", ctx,
                                   d.digest.str(), d.media_type));
        }
        if (txn.have(d.digest)) {
            if (opts.progress) {
                opts.progress({what, d.digest, d.size, d.size, true});
            }
            continue;
        }
        GANTRY_TRY_CTX(client.blob(txn, d, what), "{}: {} {}", ctx, what, d.digest.str());
    }
    auto config =
        GANTRY_TRY_CTX(parse_image_config(GANTRY_TRY(txn.read(manifest.config.digest))), "{}", ctx);
    if (config.diff_ids.size() != manifest.layers.size()) {
        return fail(Error::msg("{}: config lists {} diff_ids for {} layers", ctx,
                               config.diff_ids.size(), manifest.layers.size()));
    }
    // 3. Name it, atomically with the blobs.
    ImageRecord rec{ref.str(), mdesc.digest, type, mdesc.size, index_digest, 0};
    txn.tag(rec);
    GANTRY_TRY_CTX(txn.commit(), "{}", ctx);
    return rec;
}

}  // namespace gantry::image
