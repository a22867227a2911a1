// gantry::Expected: std::expected where the standard library has it, else a thin type of
// the same shape.
//
// Why the fallback: clang 14 (Debian 12's clang, needed for libFuzzer and clang-tidy) does not
// define __cpp_concepts >= 202002, so libstdc++ 12 hides std::expected from it. g++ 12 sees
// the real one. Code uses only the common subset: has_value/operator bool, value(), error(),
// operator* and ->, construction from a value or from gantry::fail() (an Unexpected).
#pragma once

#include <version>

#if defined(__cpp_lib_expected)
#include <expected>

namespace gantry {
template <typename T, typename E>
using Expected = std::expected<T, E>;
template <typename E>
using Unexpected = std::unexpected<E>;
}  // namespace gantry

#else
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace gantry {

template <typename E>
class Unexpected {
  public:
    explicit Unexpected(E e) : e_(std::move(e)) {}
    E& error() & { return e_; }
    E&& error() && { return std::move(e_); }

  private:
    E e_;
};

template <typename T, typename E>
class Expected {
  public:
    using value_type = T;
    using error_type = E;

    Expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
    template <typename U = T>
    requires std::is_constructible_v<T, U&&> &&
        (!std::is_same_v<std::remove_cvref_t<U>, Expected>)Expected(U&& v)
        : v_(std::in_place_index<0>, std::forward<U>(v)) {}
    template <typename G>
    Expected(Unexpected<G> u) : v_(std::in_place_index<1>, std::move(u).error()) {}

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }

    T& value() & { return check(), std::get<0>(v_); }
    const T& value() const& { return check(), std::get<0>(v_); }
    T&& value() && { return check(), std::move(std::get<0>(v_)); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    T&& operator*() && { return std::move(std::get<0>(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    template <typename U>
    T value_or(U&& other) const& {
        return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(other));
    }

    E& error() & { return std::get<1>(v_); }
    const E& error() const& { return std::get<1>(v_); }
    E&& error() && { return std::move(std::get<1>(v_)); }

  private:
    void check() const {
        if (!has_value()) {
            std::abort();  // value() on an error: a programming bug, as with std::expected
        }
    }
    std::variant<T, E> v_;
};

template <typename E>
class Expected<void, E> {
  public:
    using value_type = void;
    using error_type = E;

    Expected() = default;
    template <typename G>
    Expected(Unexpected<G> u) : err_(std::move(u).error()) {}

    bool has_value() const { return !err_.has_value(); }
    explicit operator bool() const { return has_value(); }
    void value() const {
        if (err_.has_value()) {
            std::abort();
        }
    }
    void operator*() const {}
    E& error() & { return *err_; }
    const E& error() const& { return *err_; }
    E&& error() && { return std::move(*err_); }

  private:
    std::optional<E> err_;
};

}  // namespace gantry
#endif
