// Error and Result<T>: how every fallible Gantry function reports failure.
//
// An Error keeps the errno that caused it (0 when the failure is not a syscall's) and a
// chain of context, outermost first, the way crun prints them:
//     mount /var: open '/var': Permission denied
// Build one with Error::sys() right after a failing syscall, or Error::msg() for a logic
// error, and add context on the way up with .context() or GANTRY_TRY_CTX().
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.h"

namespace gantry {

class Error {
  public:
    // A failure that is not a syscall's: `what` says what went wrong.
    static Error msg(std::string what) { return Error(0, std::move(what)); }
    template <typename... Args>
    static Error msg(fmt::format_string<Args...> f, Args&&... args) {
        return Error(0, fmt::format(f, std::forward<Args>(args)...));
    }
    // A failed syscall: captures errno now, so call it before anything else can clobber it.
    static Error sys(std::string what);
    template <typename... Args>
    static Error sys(fmt::format_string<Args...> f, Args&&... args) {
        int saved = errno;
        return Error(saved, fmt::format(f, std::forward<Args>(args)...));
    }
    // A failure with a known errno value (e.g. a negative return of an sd-* call).
    static Error with_errno(int err, std::string what) { return Error(err, std::move(what)); }

    // Adds an outer context: err.context("mount /var") reads "mount /var: <err>".
    Error& context(std::string outer) &;
    Error&& context(std::string outer) &&;

    int code() const { return errno_; }
    // The innermost description, without context or strerror.
    const std::string& message() const { return message_; }
    // Outer contexts, outermost first.
    const std::vector<std::string>& contexts() const { return contexts_; }
    // "ctx1: ctx2: message: strerror(code)".
    std::string str() const;

  private:
    Error(int err, std::string message) : errno_(err), message_(std::move(message)) {}

    int errno_ = 0;
    std::string message_;
    std::vector<std::string> contexts_;
};

template <typename T>
using Result = Expected<T, Error>;
using Status = Expected<void, Error>;

// The error branch of a Result: `return fail(Error::sys("open"));`. Use this, never
// std::unexpected directly, so code also builds where base/expected.h falls back.
inline Unexpected<Error> fail(Error e) {
    return Unexpected<Error>(std::move(e));
}

// Returns Status success; reads better than `return {};` in long functions.
inline Status ok() {
    return {};
}

}  // namespace gantry

template <>
struct fmt::formatter<gantry::Error> : fmt::formatter<std::string_view> {
    auto format(const gantry::Error& e, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(e.str(), ctx);
    }
};

// GANTRY_TRY(expr): evaluates a Result/Status; on error returns it from the enclosing
// function, else yields the value (void for Status). Uses a GNU statement expression,
// which GCC and clang both support.
#define GANTRY_TRY(expr)                                             \
    ({                                                               \
        auto gantry_try_r_ = (expr);                                 \
        if (!gantry_try_r_) {                                        \
            return ::gantry::fail(std::move(gantry_try_r_).error()); \
        }                                                            \
        std::move(gantry_try_r_).value();                            \
    })

// GANTRY_TRY_CTX(expr, fmt, args...): as GANTRY_TRY, adding a context on error.
#define GANTRY_TRY_CTX(expr, ...)                                                    \
    ({                                                                               \
        auto gantry_try_r_ = (expr);                                                 \
        if (!gantry_try_r_) {                                                        \
            return ::gantry::fail(                                                   \
                std::move(gantry_try_r_).error().context(fmt::format(__VA_ARGS__))); \
        }                                                                            \
        std::move(gantry_try_r_).value();                                            \
    })
