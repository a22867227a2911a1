#include "image/reference.h"

#include <cctype>

namespace gantry::image {

namespace {

bool is_alnum_lower(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A path component: [a-z0-9]+ separated by one of ".", "_", "__", or any run of "-".
bool valid_component(std::string_view c) {
    if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) {
        return false;
    }
    for (size_t i = 0; i < c.size();) {
        if (is_alnum_lower(c[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !is_alnum_lower(c[j])) {
            ++j;
        }
        std::string_view sep = c.substr(i, j - i);
        bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (!(sep == "." || sep == "_" || sep == "__" || dashes)) {
            return false;
        }
        i = j;
    }
    return true;
}

bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128) {
        return false;
    }
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!word(t[0])) {
        return false;
    }
    for (char c : t) {
        if (!word(c) && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

bool valid_domain(std::string_view d) {
    if (d.empty()) {
        return false;
    }
    for (char c : d) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
              c == '[' || c == ']')) {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<Reference> Reference::parse(std::string_view text) {
    if (text.empty()) {
        return fail(Error::msg("image reference is empty"));
    }
    if (text.size() > 255 * 2) {
        return fail(Error::msg("image reference '{}...' is too long", text.substr(0, 40)));
    }
    Reference r;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        r.digest = GANTRY_TRY_CTX(Digest::parse(rest.substr(at + 1)), "image reference '{}'", text);
        rest = rest.substr(0, at);
    }
    // The domain is the first component when it looks like a host: has "." or ":", or is
    // "localhost" (distribution's rule; "redis/x" is a Hub path, "ghcr.io/x" a host).
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view first = rest.substr(0, slash);
        if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
            first.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos) {
            r.domain = std::string(first);
            rest = rest.substr(slash + 1);
        }
    }
    // The tag follows the last ':' that comes after the last '/'.
    size_t last_slash = rest.rfind('/');
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos &&
        (last_slash == std::string_view::npos || colon > last_slash)) {
        r.tag = std::string(rest.substr(colon + 1));
        rest = rest.substr(0, colon);
        if (!valid_tag(r.tag)) {
            return fail(
                Error::msg("image reference '{}': invalid tag '{}' (letters, digits, "
                           "'_', '.', '-'; at most 128; not starting with '.' or '-')",
                           text, r.tag));
        }
    }
    r.path = std::string(rest);
    if (r.domain.empty()) {
        r.domain = std::string(kDockerHub);
    } else if (!valid_domain(r.domain)) {
        return fail(Error::msg("image reference '{}': invalid registry host '{}'", text, r.domain));
    }
    if (r.domain == "index.docker.io") {
        r.domain = std::string(kDockerHub);
    }
    if (r.path.empty()) {
        return fail(Error::msg("image reference '{}': no repository name", text));
    }
    size_t start = 0;
    for (;;) {
        size_t end = r.path.find('/', start);
        std::string_view comp = std::string_view(r.path).substr(
            start, end == std::string::npos ? std::string::npos : end - start);
        if (!valid_component(comp)) {
            return fail(
                Error::msg("image reference '{}': invalid repository component '{}' "
                           "(lowercase letters and digits, separated by '.', '_', '__' "
                           "or '-')",
                           text, comp));
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    if (r.domain == kDockerHub && r.path.find('/') == std::string::npos) {
        r.path = "library/" + r.path;
    }
    if (r.tag.empty() && !r.digest) {
        r.tag = "latest";
    }
    return r;
}

std::string Reference::str() const {
    std::string s = repository();
    if (!tag.empty()) {
        s += ":" + tag;
    }
    if (digest) {
        s += "@" + digest->str();
    }
    return s;
}

std::string Reference::registry_host() const {
    return domain == kDockerHub ? "registry-1.docker.io" : domain;
}

bool Reference::is_loopback() const {
    std::string host = domain;
    if (host.starts_with("[")) {
        return host.starts_with("[::1]");
    }
    if (auto c = host.find(':'); c != std::string::npos) {
        host = host.substr(0, c);
    }
    return host == "localhost" || host.starts_with("127.");
}

}  // namespace gantry::image
