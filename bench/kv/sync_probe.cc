// What one durable append costs on this disk, by write strategy. Each mode writes 128-byte
// records one after another (like a single client's puts) and makes each durable before the
// next; the modes take turns in short slices (the machine is shared, rates swing within
// seconds). Reports appends/s and, from /sys/block/<dev>/stat, device writes and cache
// flushes per append: the difference between the modes is which metadata each sync drags in.
//   build/bench/kv/sync_probe [dir] [seconds-per-mode] [--dev vda]
//
// Modes:
//   append        pwrite at the end (the file grows) + fdatasync
//   overwrite     pwrite into blocks already written with zeros and synced + fdatasync
//   fallocated    pwrite into fallocate()d (unwritten) blocks + fdatasync
//   rwf_dsync     pwritev2(RWF_DSYNC) into zero-written blocks (one system call)
//   direct_dsync  O_DIRECT|O_DSYNC, the 4 KiB tail block rewritten, into zero-written blocks
//   direct_fdsync O_DIRECT pwrite of the tail block + fdatasync, into zero-written blocks
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clk = std::chrono::steady_clock;

constexpr size_t kRecord = 128;
constexpr size_t kBlock = 4096;
constexpr off_t kFileBytes = 64 << 20;

struct DiskStat {
    unsigned long long writes = 0, flushes = 0;
};

DiskStat disk_stat(const std::string& dev) {
    std::ifstream f("/sys/block/" + dev + "/stat");
    std::vector<unsigned long long> v;
    unsigned long long x;
    while (f >> x) {
        v.push_back(x);
    }
    DiskStat s;
    if (v.size() >= 15) {
        s.writes = v[4];
        s.flushes = v[14];
    }
    return s;
}

[[noreturn]] void die(const char* what, const std::string& path) {
    std::fprintf(stderr, "sync_probe: %s '%s': %s\n", what, path.c_str(), std::strerror(errno));
    std::exit(1);
}

void full_pwrite(int fd, const char* p, size_t n, off_t off, const std::string& path) {
    while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, off);
        if (w <= 0) {
            die("pwrite", path);
        }
        p += w;
        n -= static_cast<size_t>(w);
        off += w;
    }
}

// A file of real, synced zero blocks (what the WAL's chunks are).
void zero_fill(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        die("open", path);
    }
    std::vector<char> z(1 << 20, 0);
    for (off_t off = 0; off < kFileBytes; off += static_cast<off_t>(z.size())) {
        full_pwrite(fd, z.data(), z.size(), off, path);
    }
    if (::fsync(fd) < 0) {
        die("fsync", path);
    }
    ::close(fd);
}

struct Mode {
    const char* name;
    int fd = -1;
    off_t off = 0;
    std::string path;
    char* block = nullptr;  // the tail block, for O_DIRECT
    double ops = 0, secs = 0;
    DiskStat dev{};
};

void prepare(Mode& m, const std::string& dir) {
    m.path = dir + "/probe-" + m.name;
    std::string n = m.name;
    int flags = O_WRONLY;
    if (n == "append") {
        flags |= O_CREAT | O_TRUNC;
    } else if (n == "fallocated") {
        flags |= O_CREAT | O_TRUNC;
    } else {
        zero_fill(m.path);
    }
    if (n == "direct_dsync") {
        flags |= O_DIRECT | O_DSYNC;
    } else if (n == "direct_fdsync") {
        flags |= O_DIRECT;
    }
    m.fd = ::open(m.path.c_str(), flags, 0600);
    if (m.fd < 0) {
        die("open", m.path);
    }
    if (n == "fallocated") {
        if (::fallocate(m.fd, 0, 0, kFileBytes) < 0) {
            die("fallocate", m.path);
        }
        ::fsync(m.fd);
    }
    m.block = static_cast<char*>(std::aligned_alloc(kBlock, kBlock));
    std::memset(m.block, 0, kBlock);
    m.off = 0;
}

void one(Mode& m, const char* rec) {
    std::string n = m.name;
    if (m.off + static_cast<off_t>(kRecord) > kFileBytes) {
        m.off = 0;  // wrap: still overwrites of written blocks (append mode keeps growing)
        if (n == "append" && ::ftruncate(m.fd, 0) < 0) {
            die("ftruncate", m.path);
        }
    }
    if (n == "direct_dsync" || n == "direct_fdsync") {
        size_t in = static_cast<size_t>(m.off) % kBlock;
        if (in == 0) {
            std::memset(m.block, 0, kBlock);
        }
        std::memcpy(m.block + in, rec, kRecord);
        if (::pwrite(m.fd, m.block, kBlock, m.off - static_cast<off_t>(in)) !=
            static_cast<ssize_t>(kBlock)) {
            die("pwrite O_DIRECT", m.path);
        }
        if (n == "direct_fdsync" && ::fdatasync(m.fd) < 0) {
            die("fdatasync", m.path);
        }
    } else if (n == "rwf_dsync") {
        iovec v{const_cast<char*>(rec), kRecord};
        if (::pwritev2(m.fd, &v, 1, m.off, RWF_DSYNC) != static_cast<ssize_t>(kRecord)) {
            die("pwritev2", m.path);
        }
    } else {
        full_pwrite(m.fd, rec, kRecord, m.off, m.path);
        if (::fdatasync(m.fd) < 0) {
            die("fdatasync", m.path);
        }
    }
    m.off += static_cast<off_t>(kRecord);
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir = "/var/tmp";
    double seconds = 2;
    std::string dev = "vda";
    std::vector<std::string> pos;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--dev" && i + 1 < argc) {
            dev = argv[++i];
        } else {
            pos.push_back(a);
        }
    }
    if (!pos.empty()) {
        dir = pos[0];
    }
    if (pos.size() > 1) {
        seconds = std::atof(pos[1].c_str());
    }
    std::vector<Mode> modes = {{"append"},    {"overwrite"},    {"fallocated"},
                               {"rwf_dsync"}, {"direct_dsync"}, {"direct_fdsync"}};
    for (auto& m : modes) {
        prepare(m, dir);
    }
    char rec[kRecord];
    std::memset(rec, 'r', sizeof rec);
    constexpr int kSlices = 4;
    for (int s = 0; s < kSlices; ++s) {
        for (size_t k = 0; k < modes.size(); ++k) {
            Mode& m = modes[(k + static_cast<size_t>(s)) % modes.size()];
            DiskStat a = disk_stat(dev);
            auto t0 = Clk::now();
            auto until = t0 + std::chrono::duration<double>(seconds / kSlices);
            long n = 0;
            while (Clk::now() < until) {
                one(m, rec);
                ++n;
            }
            DiskStat b = disk_stat(dev);
            m.secs += std::chrono::duration<double>(Clk::now() - t0).count();
            m.ops += static_cast<double>(n);
            m.dev.writes += b.writes - a.writes;
            m.dev.flushes += b.flushes - a.flushes;
        }
    }
    std::printf("%-14s %10s %14s %14s\n", "mode", "appends/s", "writes/append", "flushes/append");
    for (auto& m : modes) {
        std::printf("%-14s %10.0f %14.2f %14.2f\n", m.name, m.ops / m.secs,
                    static_cast<double>(m.dev.writes) / m.ops,
                    static_cast<double>(m.dev.flushes) / m.ops);
        ::close(m.fd);
        ::unlink(m.path.c_str());
    }
    return 0;
}
