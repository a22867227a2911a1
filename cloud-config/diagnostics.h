// Diagnostics: every problem found in a config file, with where it is and what to do.
//
// A config is checked whole and all its problems are reported at once, each as
//     FILE:LINE:COLUMN: key.path: what is wrong (did you mean "x"?)
// so that a person fixes a file in one round instead of one error per boot.
#pragma once

#include <string>
#include <vector>

#include "base/expected.h"
#include "cloud-config/model.h"

namespace gantry::config {

struct Diagnostic {
    std::string file;
    int line = 0;  // 1-based; 0 when the problem has no place in the file
    int column = 0;
    std::string path;     // key path, e.g. services.web.restart; empty for the whole file
    std::string message;  // what is wrong and what would be right
    std::string hint;     // a likely intended name for "did you mean", or empty

    std::string str() const;
};

using Diagnostics = std::vector<Diagnostic>;

// A fully valid Config, or every problem found in it.
using Checked = Expected<Config, Diagnostics>;

// Sorts by position (line, then column, then text) so output reads top to bottom.
void sort_diagnostics(Diagnostics& d);
// One diagnostic per line, each ending in '\n'.
std::string format_diagnostics(const Diagnostics& d);

}  // namespace gantry::config
