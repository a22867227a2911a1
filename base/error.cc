#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace gantry {

Error Error::sys(std::string what) {
    int saved = errno;
    return Error(saved, std::move(what));
}

Error& Error::context(std::string outer) & {
    contexts_.insert(contexts_.begin(), std::move(outer));
    return *this;
}

Error&& Error::context(std::string outer) && {
    contexts_.insert(contexts_.begin(), std::move(outer));
    return std::move(*this);
}

std::string Error::str() const {
    std::string out;
    for (const auto& c : contexts_) {
        out += c;
        out += ": ";
    }
    out += message_;
    if (errno_ != 0) {
        if (!message_.empty()) {
            out += ": ";
        }
        out += strerrordesc_np(errno_) ? strerrordesc_np(errno_) : "Unknown error";
    }
    return out;
}

}  // namespace gantry
