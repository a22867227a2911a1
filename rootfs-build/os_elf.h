// Just enough ELF64 to build an OS image: what a program needs to run (its interpreter and
// DT_NEEDED libraries) and what a kernel module says about itself (.modinfo).
//
// Parsers take bytes, not paths, so tests feed them hand-made or host binaries alike.
// Only little-endian ELF64 is accepted: the image is x86_64 and a foreign binary must be
// an error, not a library closure that silently misses.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace gantry::osimage {

struct ElfInfo {
    std::string interpreter;           // PT_INTERP ("" for static programs and libraries)
    std::vector<std::string> needed;   // DT_NEEDED, in file order
    std::vector<std::string> runpath;  // DT_RUNPATH or DT_RPATH entries, split on ':'
};

Result<ElfInfo> parse_elf(std::string_view bytes);
// The raw contents of the section called `name`, or nullopt if there is none.
Result<std::optional<std::string_view>> elf_section(std::string_view bytes, std::string_view name);
// The key=value strings of a module's .modinfo section, in order.
Result<std::vector<std::pair<std::string, std::string>>> parse_modinfo(std::string_view ko);

// One file to put into the image: where it comes from on the host, where it goes.
struct ElfFile {
    std::string host_path;   // resolved, readable on the build machine
    std::string image_path;  // relative path in the image ("usr/lib/x86_64-linux-gnu/libc.so.6")
    // Non-empty when the same host file is already in the image under another path (libc
    // names the loader in DT_NEEDED too): image_path becomes a symlink to this absolute path.
    std::string symlink_to;
};

struct LibrarySearch {
    // Directories searched for DT_NEEDED names, in order, after the object's own runpath.
    std::vector<std::string> dirs = {"/lib/x86_64-linux-gnu",
                                     "/usr/lib/x86_64-linux-gnu",
                                     "/lib64",
                                     "/usr/lib64",
                                     "/lib",
                                     "/usr/lib"};
    // Where the libraries land in the image; the dynamic loader searches it by default.
    std::string image_lib_dir = "usr/lib/x86_64-linux-gnu";
};

// The DT_NEEDED closure of `programs` (host paths), plus the dynamic loader each needs,
// sorted by image path. Every name must resolve: a missing library is an error that names
// the program that wanted it. Static programs contribute nothing.
Result<std::vector<ElfFile>> library_closure(const std::vector<std::string>& programs,
                                             const LibrarySearch& search = {});

}  // namespace gantry::osimage
