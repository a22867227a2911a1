/* gantry-probe: runs inside a test container and prints, as one JSON object, what a
 * process there can see: ids, capabilities, NoNewPrivs, seccomp mode, namespaces, mounts,
 * open fds, cgroup, hostname, cwd, umask, rlimits. On request it also tries to read and
 * write paths (--path P) and to make syscalls (--syscall NAME), reporting the errno.
 * Static (the test rootfs has no libc), C, no dependencies: crun's tests/init.c and youki's
 * runtimetest do the same job. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern char** environ;

static void put_str(const char* s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void put_key(const char* k) {
    put_str(k);
    putchar(':');
}

/* Reads a small file into buf; returns length or -errno. */
static int slurp(const char* path, char* buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (int)n;
}

static void status_field(const char* status, const char* name, const char* key) {
    const char* p = strstr(status, name);
    char val[64] = "";
    if (p) {
        p += strlen(name);
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        size_t i = 0;
        while (p[i] && p[i] != '\n' && i < sizeof val - 1) {
            val[i] = p[i];
            i++;
        }
        val[i] = '\0';
    }
    put_key(key);
    put_str(val);
}

static void lines_array(const char* text) {
    putchar('[');
    int first = 1;
    while (*text) {
        const char* nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        char line[4096];
        if (len >= sizeof line) {
            len = sizeof line - 1;
        }
        memcpy(line, text, len);
        line[len] = '\0';
        if (len > 0) {
            if (!first) {
                putchar(',');
            }
            put_str(line);
            first = 0;
        }
        text += nl ? (size_t)(nl - text) + 1 : strlen(text);
    }
    putchar(']');
}

static void namespaces(void) {
    static const char* names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts", "time"};
    putchar('{');
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64], link[128];
        snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n < 0 ? 0 : n] = '\0';
        if (i) {
            putchar(',');
        }
        put_key(names[i]);
        put_str(link);
    }
    putchar('}');
}

static void fds(void) {
    /* The directory fd itself shows up in the listing; leave it out. */
    DIR* d = opendir("/proc/self/fd");
    putchar('{');
    if (!d) {
        putchar('}');
        return;
    }
    int self = dirfd(d), first = 1;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self) {
            continue;
        }
        char path[300], link[512];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n < 0 ? 0 : n] = '\0';
        if (!first) {
            putchar(',');
        }
        put_key(e->d_name);
        put_str(link);
        first = 0;
    }
    closedir(d);
    putchar('}');
}

static void path_check(const char* path) {
    int rfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int rerr = rfd < 0 ? errno : 0;
    /* "readable" means content came out: a masked file reads empty, a masked dir lists
     * nothing. */
    long bytes = -1;
    if (rfd >= 0) {
        struct stat st;
        fstat(rfd, &st);
        if (S_ISDIR(st.st_mode)) {
            DIR* d = fdopendir(rfd);
            bytes = 0;
            struct dirent* e;
            while (d && (e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                    bytes++;
                }
            }
            if (d) {
                closedir(d);
            }
        } else {
            char buf[256];
            ssize_t n = read(rfd, buf, sizeof buf);
            bytes = n < 0 ? -1 : n;
            if (n < 0) {
                rerr = errno;
            }
            close(rfd);
        }
    }
    int wfd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    int werr = wfd < 0 ? errno : 0;
    if (wfd >= 0) {
        close(wfd);
    }
    putchar('{');
    put_key("path");
    put_str(path);
    printf(",\"read_errno\":%d,\"read_bytes\":%ld,\"write_errno\":%d}", rerr, bytes, werr);
}

/* Tries a syscall with harmless arguments; returns 0 or errno. */
static int try_syscall(const char* name, int* known) {
    long r;
    *known = 1;
    errno = 0;
    if (!strcmp(name, "unshare")) {
        r = unshare(CLONE_NEWUTS);
    } else if (!strcmp(name, "mount")) {
        /* A remount that changes nothing: EPERM without CAP_SYS_ADMIN, 0 with it. */
        r = mount(NULL, "/proc", NULL,
                  MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME, NULL);
    } else if (!strcmp(name, "umount")) {
        r = umount2("/proc", MNT_DETACH);
    } else if (!strcmp(name, "sethostname")) {
        r = sethostname("probe", 5);
    } else if (!strcmp(name, "keyctl")) {
        r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    } else if (!strcmp(name, "ptrace")) {
        r = syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0);
    } else if (!strcmp(name, "personality")) {
        r = syscall(SYS_personality, 0xffffffff);
    } else if (!strcmp(name, "chroot")) {
        r = chroot("/");
    } else if (!strcmp(name, "mknod")) {
        r = mknod("/tmp/probe-null", S_IFCHR | 0600, makedev(1, 3));
    } else if (!strcmp(name, "setuid")) {
        r = setuid(12345);
    } else if (!strcmp(name, "reboot")) {
        r = syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL if allowed */
    } else if (!strcmp(name, "getpid")) {
        r = getpid();
    } else {
        *known = 0;
        return 0;
    }
    return r < 0 ? errno : 0;
}

int main(int argc, char** argv) {
    static char buf[1 << 16];
    printf("{");
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("\"pid\":%d,\"ppid\":%d,\"uid\":%u,\"euid\":%u,\"gid\":%u,\"egid\":%u,", getpid(),
           getppid(), ru, eu, rg, eg);
    gid_t groups[64];
    int ng = getgroups(64, groups);
    printf("\"groups\":[");
    for (int i = 0; i < ng; i++) {
        printf(i ? ",%u" : "%u", groups[i]);
    }
    printf("],");
    mode_t um = umask(0);
    umask(um);
    printf("\"umask\":%u,", (unsigned)um);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("\"nofile_soft\":%llu,\"nofile_hard\":%llu,", (unsigned long long)rl.rlim_cur,
           (unsigned long long)rl.rlim_max);
    char host[256] = "";
    gethostname(host, sizeof host);
    put_key("hostname");
    put_str(host);
    putchar(',');
    char cwd[4096] = "";
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(cwd, sizeof cwd, "(error %d)", errno);
    }
    put_key("cwd");
    put_str(cwd);
    putchar(',');

    if (slurp("/proc/self/status", buf, sizeof buf) < 0) {
        buf[0] = '\0';
    }
    status_field(buf, "CapInh:", "cap_inh");
    putchar(',');
    status_field(buf, "CapPrm:", "cap_prm");
    putchar(',');
    status_field(buf, "CapEff:", "cap_eff");
    putchar(',');
    status_field(buf, "CapBnd:", "cap_bnd");
    putchar(',');
    status_field(buf, "CapAmb:", "cap_amb");
    putchar(',');
    status_field(buf, "NoNewPrivs:", "no_new_privs");
    putchar(',');
    status_field(buf, "Seccomp:", "seccomp");
    putchar(',');
    status_field(buf, "SigBlk:", "sig_blk");
    putchar(',');
    status_field(buf, "SigIgn:", "sig_ign");
    putchar(',');
    int n = slurp("/proc/self/oom_score_adj", buf, sizeof buf);
    printf("\"oom_score_adj\":%d,", n > 0 ? atoi(buf) : -9999);

    put_key("namespaces");
    namespaces();
    putchar(',');
    put_key("fds");
    fds();
    putchar(',');
    n = slurp("/proc/self/cgroup", buf, sizeof buf);
    put_key("cgroup");
    lines_array(n > 0 ? buf : "");
    putchar(',');
    n = slurp("/proc/self/mountinfo", buf, sizeof buf);
    put_key("mounts");
    lines_array(n > 0 ? buf : "");
    putchar(',');
    put_key("env");
    putchar('[');
    for (char** e = environ; *e; e++) {
        if (e != environ) {
            putchar(',');
        }
        put_str(*e);
    }
    printf("],");

    put_key("paths");
    putchar('[');
    int first = 1;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--path")) {
            if (!first) {
                putchar(',');
            }
            path_check(argv[++i]);
            first = 0;
        }
    }
    printf("],");
    put_key("syscalls");
    putchar('{');
    first = 1;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--syscall")) {
            int known;
            int err = try_syscall(argv[++i], &known);
            if (!first) {
                putchar(',');
            }
            put_key(argv[i]);
            if (known) {
                printf("%d", err);
            } else {
                put_str("unknown");
            }
            first = 0;
        }
    }
    printf("}}\n");
    fflush(stdout);
    return 0;
}
