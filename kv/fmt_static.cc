// fmt's compiled part, for the static link of gantry-kv: Debian ships libfmt only as a
// shared library. format-inl.h holds the out-of-line functions; the two templates the
// headers leave to the library are instantiated here.
//
// FMT_STATIC_THOUSANDS_SEPARATOR: fmt's locale support ("{:L}", which gantry-kv never
// uses) is what referenced std::locale, and through it the static link took libstdc++'s
// whole locale machinery (every facet for char and wchar_t): without it the text is 550 KB
// smaller (1,995 -> 1,446 KB), and nearly all of the text is resident (fault-around maps
// the 64 KiB around each touched page).
#define FMT_STATIC_THOUSANDS_SEPARATOR ','
#include <fmt/format.h>

// After format.h, which defines FMT_FUNC (empty: these definitions are not inline).
#include <fmt/format-inl.h>

namespace fmt::detail {
template thousands_sep_result<char> thousands_sep_impl<char>(locale_ref);
template char decimal_point_impl<char>(locale_ref);
}  // namespace fmt::detail
