#include "image/oci.h"

#include <nlohmann/json.hpp>

#include "base/strings.h"

namespace gantry::image {

using json = nlohmann::json;

bool is_index_type(std::string_view t) {
    return t == media::kOciIndex || t == media::kDockerList;
}
bool is_manifest_type(std::string_view t) {
    return t == media::kOciManifest || t == media::kDockerManifest;
}
bool is_layer_type(std::string_view t) {
    return t == media::kOciLayer || t == media::kOciLayerGzip || t == media::kOciLayerZstd ||
           t == media::kDockerLayer || t == media::kDockerLayerGzip ||
           // Non-distributable layers still unpack the same way.
           t.starts_with("application/vnd.oci.image.layer.nondistributable.v1.tar");
}

Result<Platform> Platform::parse(std::string_view text) {
    auto parts = split(text, '/');
    Platform p;
    if (parts.size() == 1) {
        p.architecture = parts[0];
    } else if (parts.size() == 2 || parts.size() == 3) {
        p.os = parts[0];
        p.architecture = parts[1];
        if (parts.size() == 3) {
            p.variant = parts[2];
        }
    } else {
        return fail(Error::msg("platform '{}': expected os/arch[/variant]", text));
    }
    if (p.os.empty() || p.architecture.empty()) {
        return fail(Error::msg("platform '{}': expected os/arch[/variant]", text));
    }
    return p;
}

Platform Platform::host() {
    Platform p;
#if defined(__x86_64__)
    p.architecture = "amd64";
#elif defined(__aarch64__)
    p.architecture = "arm64";
#elif defined(__i386__)
    p.architecture = "386";
#elif defined(__arm__)
    p.architecture = "arm";
#elif defined(__riscv)
    p.architecture = "riscv64";
#elif defined(__s390x__)
    p.architecture = "s390x";
#elif defined(__powerpc64__)
    p.architecture = "ppc64le";
#else
#error "unknown architecture: add its GOARCH name"
#endif
    return p;
}

std::string Platform::str() const {
    std::string s = os + "/" + architecture;
    if (!variant.empty()) {
        s += "/" + variant;
    }
    return s;
}

bool Platform::matches(const Platform& c) const {
    if (os != c.os || architecture != c.architecture) {
        return false;
    }
    if (variant.empty()) {
        return true;
    }
    // arm64 images usually omit "v8", its only variant.
    std::string cv = c.variant.empty() && c.architecture == "arm64" ? "v8" : c.variant;
    return variant == cv;
}

namespace {

// nlohmann throws on type mismatches; these helpers turn a document into Errors that name
// the field, and are the only place this file touches exceptions.
std::string str_or(const json& j, const char* key, std::string def = {}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return def;
    }
    return it->get<std::string>();
}

std::vector<std::string> strings_or(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return {};
    }
    return it->get<std::vector<std::string>>();
}

Result<Descriptor> descriptor_from(const json& j) {
    Descriptor d;
    d.media_type = str_or(j, "mediaType");
    d.digest = GANTRY_TRY_CTX(Digest::parse(str_or(j, "digest")), "descriptor");
    if (!j.contains("size") || !j["size"].is_number_unsigned()) {
        return fail(Error::msg("descriptor {}: missing or negative size", d.digest.str()));
    }
    d.size = j["size"].get<uint64_t>();
    if (auto it = j.find("annotations"); it != j.end() && it->is_object()) {
        d.annotations = it->get<std::map<std::string, std::string>>();
    }
    if (auto it = j.find("platform"); it != j.end() && it->is_object()) {
        Platform p;
        p.os = str_or(*it, "os");
        p.architecture = str_or(*it, "architecture");
        p.variant = str_or(*it, "variant");
        d.platform = p;
    }
    return d;
}

json descriptor_json(const Descriptor& d) {
    json j = {{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
    if (!d.annotations.empty()) {
        j["annotations"] = d.annotations;
    }
    if (d.platform) {
        j["platform"] = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
        if (!d.platform->variant.empty()) {
            j["platform"]["variant"] = d.platform->variant;
        }
    }
    return j;
}

template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::exception& e) {
        return fail(Error::msg("{}: {}", what, e.what()));
    }
}

}  // namespace

Result<std::string> sniff_media_type(std::string_view text) {
    return guarded("parse manifest", [&]() -> Result<std::string> {
        json j = json::parse(text);
        std::string t = str_or(j, "mediaType");
        if (!t.empty()) {
            return t;
        }
        if (j.contains("manifests")) {
            return std::string(media::kOciIndex);
        }
        if (j.contains("layers")) {
            return std::string(media::kOciManifest);
        }
        return fail(Error::msg("parse manifest: neither an index nor a manifest"));
    });
}

Result<Descriptor> parse_descriptor_json(std::string_view text) {
    return guarded("parse descriptor", [&] { return descriptor_from(json::parse(text)); });
}

Result<Manifest> parse_manifest(std::string_view text) {
    return guarded("parse manifest", [&]() -> Result<Manifest> {
        json j = json::parse(text);
        if (j.value("schemaVersion", 0) != 2) {
            return fail(
                Error::msg("parse manifest: schemaVersion must be 2 (schema 1 is not "
                           "supported; re-push the image with a current client)"));
        }
        Manifest m;
        m.media_type = str_or(j, "mediaType", std::string(media::kOciManifest));
        if (!j.contains("config")) {
            return fail(Error::msg("parse manifest: no config descriptor"));
        }
        m.config = GANTRY_TRY_CTX(descriptor_from(j["config"]), "parse manifest: config");
        for (const auto& l : j.value("layers", json::array())) {
            m.layers.push_back(GANTRY_TRY_CTX(descriptor_from(l), "parse manifest: layer"));
        }
        return m;
    });
}

Result<Index> parse_index(std::string_view text) {
    return guarded("parse index", [&]() -> Result<Index> {
        json j = json::parse(text);
        Index idx;
        idx.media_type = str_or(j, "mediaType", std::string(media::kOciIndex));
        for (const auto& m : j.value("manifests", json::array())) {
            idx.manifests.push_back(GANTRY_TRY_CTX(descriptor_from(m), "parse index: manifest"));
        }
        return idx;
    });
}

Result<ImageConfig> parse_image_config(std::string_view text) {
    return guarded("parse image config", [&]() -> Result<ImageConfig> {
        json j = json::parse(text);
        ImageConfig ic;
        ic.platform.os = str_or(j, "os", "linux");
        ic.platform.architecture = str_or(j, "architecture");
        ic.platform.variant = str_or(j, "variant");
        if (auto it = j.find("config"); it != j.end() && it->is_object()) {
            const json& c = *it;
            ContainerConfig& cc = ic.config;
            cc.entrypoint = strings_or(c, "Entrypoint");
            cc.cmd = strings_or(c, "Cmd");
            cc.env = strings_or(c, "Env");
            cc.working_dir = str_or(c, "WorkingDir");
            cc.user = str_or(c, "User");
            cc.stop_signal = str_or(c, "StopSignal");
            if (auto p = c.find("ExposedPorts"); p != c.end() && p->is_object()) {
                for (const auto& [port, _] : p->items()) {
                    cc.exposed_ports.push_back(port);
                }
            }
            if (auto l = c.find("Labels"); l != c.end() && l->is_object()) {
                cc.labels = l->get<std::map<std::string, std::string>>();
            }
            if (auto h = c.find("Healthcheck"); h != c.end() && h->is_object()) {
                Healthcheck hc;
                hc.test = strings_or(*h, "Test");
                hc.interval_ns = h->value("Interval", int64_t{0});
                hc.timeout_ns = h->value("Timeout", int64_t{0});
                hc.start_period_ns = h->value("StartPeriod", int64_t{0});
                hc.retries = h->value("Retries", 0);
                cc.healthcheck = hc;
            }
        }
        if (auto r = j.find("rootfs"); r != j.end() && r->is_object()) {
            if (str_or(*r, "type", "layers") != "layers") {
                return fail(Error::msg("parse image config: rootfs.type must be 'layers'"));
            }
            for (const auto& d : r->value("diff_ids", json::array())) {
                ic.diff_ids.push_back(
                    GANTRY_TRY_CTX(Digest::parse(d.get<std::string>()), "rootfs.diff_ids"));
            }
        }
        return ic;
    });
}

std::string manifest_to_json(const Manifest& m) {
    json j = {{"schemaVersion", 2}, {"mediaType", m.media_type}};
    j["config"] = descriptor_json(m.config);
    j["layers"] = json::array();
    for (const auto& l : m.layers) {
        j["layers"].push_back(descriptor_json(l));
    }
    return j.dump();
}

std::string index_to_json(const Index& idx) {
    json j = {{"schemaVersion", 2}, {"mediaType", idx.media_type}};
    j["manifests"] = json::array();
    for (const auto& d : idx.manifests) {
        j["manifests"].push_back(descriptor_json(d));
    }
    return j.dump();
}

std::string descriptor_to_json(const Descriptor& d) {
    return descriptor_json(d).dump();
}

Result<Descriptor> select_platform(const Index& idx, const Platform& want) {
    std::vector<std::string> offered;
    for (const auto& d : idx.manifests) {
        if (!is_manifest_type(d.media_type) && !d.media_type.empty()) {
            continue;
        }
        if (!d.platform) {
            offered.push_back("(no platform)");
            continue;
        }
        if (want.matches(*d.platform)) {
            return d;
        }
        offered.push_back(d.platform->str());
    }
    return fail(Error::msg("no manifest for platform {} (the index offers: {})", want.str(),
                           offered.empty() ? "nothing" : join(offered, ", ")));
}

}  // namespace gantry::image
