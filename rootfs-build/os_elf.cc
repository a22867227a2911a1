#include "rootfs-build/os_elf.h"

#include <elf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "base/fd.h"
#include "base/strings.h"

namespace gantry::osimage {

namespace {

template <typename T>
Result<T> read_at(std::string_view bytes, uint64_t off) {
    if (off > bytes.size() || bytes.size() - off < sizeof(T)) {
        return fail(Error::msg("ELF: truncated at offset {}", off));
    }
    T v;
    std::memcpy(&v, bytes.data() + off, sizeof(T));
    return v;
}

Result<Elf64_Ehdr> read_header(std::string_view bytes) {
    if (!bytes.starts_with(std::string_view(ELFMAG, SELFMAG))) {
        return fail(Error::msg("not an ELF file"));
    }
    auto eh = GANTRY_TRY(read_at<Elf64_Ehdr>(bytes, 0));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        return fail(Error::msg("ELF: not little-endian ELF64"));
    }
    if (eh.e_machine != EM_X86_64) {
        return fail(Error::msg("ELF: machine {} is not x86_64", eh.e_machine));
    }
    return eh;
}

Result<std::vector<Elf64_Shdr>> read_sections(std::string_view bytes, const Elf64_Ehdr& eh) {
    std::vector<Elf64_Shdr> out;
    for (uint16_t i = 0; i < eh.e_shnum; ++i) {
        out.push_back(
            GANTRY_TRY(read_at<Elf64_Shdr>(bytes, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr))));
    }
    return out;
}

Result<std::string_view> section_bytes(std::string_view bytes, const Elf64_Shdr& sh) {
    if (sh.sh_type == SHT_NOBITS) {
        return std::string_view{};
    }
    if (sh.sh_offset > bytes.size() || bytes.size() - sh.sh_offset < sh.sh_size) {
        return fail(Error::msg("ELF: section past the end of the file"));
    }
    return bytes.substr(sh.sh_offset, sh.sh_size);
}

std::string c_string_at(std::string_view table, uint64_t off) {
    if (off >= table.size()) {
        return {};
    }
    std::string_view rest = table.substr(off);
    return std::string(rest.substr(0, rest.find('\0')));
}

}  // namespace

Result<std::optional<std::string_view>> elf_section(std::string_view bytes, std::string_view name) {
    auto eh = GANTRY_TRY(read_header(bytes));
    auto sections = GANTRY_TRY(read_sections(bytes, eh));
    if (eh.e_shstrndx >= sections.size()) {
        return std::optional<std::string_view>{};
    }
    auto names = GANTRY_TRY(section_bytes(bytes, sections[eh.e_shstrndx]));
    for (const auto& sh : sections) {
        if (c_string_at(names, sh.sh_name) == name) {
            return std::optional<std::string_view>(GANTRY_TRY(section_bytes(bytes, sh)));
        }
    }
    return std::optional<std::string_view>{};
}

Result<ElfInfo> parse_elf(std::string_view bytes) {
    auto eh = GANTRY_TRY(read_header(bytes));
    ElfInfo info;
    for (uint16_t i = 0; i < eh.e_phnum; ++i) {
        auto ph =
            GANTRY_TRY(read_at<Elf64_Phdr>(bytes, eh.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr)));
        if (ph.p_type == PT_INTERP) {
            if (ph.p_offset > bytes.size() || bytes.size() - ph.p_offset < ph.p_filesz) {
                return fail(Error::msg("ELF: PT_INTERP past the end of the file"));
            }
            info.interpreter = c_string_at(bytes.substr(ph.p_offset, ph.p_filesz), 0);
        }
    }
    // The dynamic section's sh_link names its string table: no need to map segments.
    auto sections = GANTRY_TRY(read_sections(bytes, eh));
    for (const auto& sh : sections) {
        if (sh.sh_type != SHT_DYNAMIC) {
            continue;
        }
        if (sh.sh_link >= sections.size()) {
            return fail(Error::msg("ELF: dynamic section links to a missing string table"));
        }
        auto strtab = GANTRY_TRY(section_bytes(bytes, sections[sh.sh_link]));
        auto dyn = GANTRY_TRY(section_bytes(bytes, sh));
        for (size_t off = 0; off + sizeof(Elf64_Dyn) <= dyn.size(); off += sizeof(Elf64_Dyn)) {
            auto d = GANTRY_TRY(read_at<Elf64_Dyn>(dyn, off));
            if (d.d_tag == DT_NULL) {
                break;
            }
            if (d.d_tag == DT_NEEDED) {
                info.needed.push_back(c_string_at(strtab, d.d_un.d_val));
            } else if (d.d_tag == DT_RUNPATH || d.d_tag == DT_RPATH) {
                for (auto& p : split(c_string_at(strtab, d.d_un.d_val), ':')) {
                    if (!p.empty()) {
                        info.runpath.push_back(p);
                    }
                }
            }
        }
    }
    return info;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_modinfo(std::string_view ko) {
    auto sec = GANTRY_TRY(elf_section(ko, ".modinfo"));
    if (!sec) {
        return fail(Error::msg("kernel module has no .modinfo section"));
    }
    std::vector<std::pair<std::string, std::string>> out;
    size_t start = 0;
    while (start < sec->size()) {
        size_t end = sec->find('\0', start);
        if (end == std::string_view::npos) {
            end = sec->size();
        }
        std::string_view kv = sec->substr(start, end - start);
        if (auto eq = kv.find('='); eq != std::string_view::npos) {
            out.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
        }
        start = end + 1;
    }
    return out;
}

Result<std::vector<ElfFile>> library_closure(const std::vector<std::string>& programs,
                                             const LibrarySearch& search) {
    namespace fs = std::filesystem;
    std::map<std::string, ElfFile> found;  // image path -> file
    std::set<std::string> seen_names;
    // (object's host path, its info) still to expand; a worklist keeps it iterative.
    std::vector<std::pair<std::string, std::string>> work;  // host path, who asked
    for (const auto& p : programs) {
        work.emplace_back(p, p);
    }
    while (!work.empty()) {
        auto [path, wanted_by] = work.back();
        work.pop_back();
        auto bytes = GANTRY_TRY_CTX(read_file(path), "{}", wanted_by);
        auto info = GANTRY_TRY_CTX(parse_elf(bytes), "{}", path);
        if (!info.interpreter.empty() && !seen_names.contains(info.interpreter)) {
            seen_names.insert(info.interpreter);
            std::error_code ec;
            auto real = fs::canonical(info.interpreter, ec);
            if (ec) {
                return fail(Error::msg("{}: interpreter {} not found on this machine", path,
                                       info.interpreter));
            }
            // The loader sits where PT_INTERP says, under usr/ because the image merges /usr.
            std::string dst = info.interpreter.substr(1);
            if (!dst.starts_with("usr/")) {
                dst = "usr/" + dst;
            }
            found[dst] = ElfFile{real.string(), dst};
        }
        std::string origin = fs::path(path).parent_path().string();
        for (const auto& name : info.needed) {
            if (seen_names.contains(name)) {
                continue;
            }
            seen_names.insert(name);
            std::vector<std::string> dirs;
            for (auto rp : info.runpath) {
                if (auto pos = rp.find("$ORIGIN"); pos != std::string::npos) {
                    rp.replace(pos, 7, origin);
                }
                dirs.push_back(rp);
            }
            dirs.insert(dirs.end(), search.dirs.begin(), search.dirs.end());
            std::string hit;
            for (const auto& d : dirs) {
                std::string candidate = d + "/" + name;
                if (access(candidate.c_str(), R_OK) == 0) {
                    hit = candidate;
                    break;
                }
            }
            if (hit.empty()) {
                return fail(Error::msg("{}: needs {}, which is in none of {}", path, name,
                                       join(dirs, ", ")));
            }
            std::string real = fs::canonical(hit).string();
            std::string dst = search.image_lib_dir + "/" + name;
            found[dst] = ElfFile{real, dst};
            work.emplace_back(real, path);
        }
    }
    // Paths are visited sorted, so which alias holds the bytes does not depend on the order
    // the closure was discovered in; the interpreter's path (usr/lib64) wins over usr/lib.
    std::map<std::string, std::string> owner;  // host file -> image path holding it
    for (const auto& [dst, f] : found) {
        if (!owner.contains(f.host_path) || dst.starts_with("usr/lib64/")) {
            owner[f.host_path] = dst;
        }
    }
    std::vector<ElfFile> out;
    for (auto& [dst, f] : found) {
        if (owner[f.host_path] != dst) {
            f.symlink_to = "/" + owner[f.host_path];
        }
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace gantry::osimage
