// fmt's compiled part, for the static link of gantry-kv: Debian ships libfmt only as a
// shared library. format-inl.h holds the out-of-line functions; the two templates the
// headers leave to the library are instantiated here.
#include <fmt/format.h>

// After format.h, which defines FMT_FUNC (empty: these definitions are not inline).
#include <fmt/format-inl.h>

namespace fmt::detail {
template thousands_sep_result<char> thousands_sep_impl<char>(locale_ref);
template char decimal_point_impl<char>(locale_ref);
}  // namespace fmt::detail
