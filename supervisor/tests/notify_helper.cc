// A tiny sd_notify client for the root tests.
//
//   notify_helper MS          STATUS at once, READY=1 after MS ms, then waits like a daemon
//   notify_helper STEP...     runs the steps in order, then waits:
//     ignore-term             ignore SIGTERM (so only SIGKILL ends it)
//     sleep=MS                sleep
//     send=TEXT               one datagram; '|' stands for a newline
//     env=NAME                sends STATUS=NAME=<value of $NAME or "unset">
//     ping=MS,N               WATCHDOG=1 every MS ms, N times
//     term-extend=US,MS       at the end, wait for SIGTERM; then send
//                             EXTEND_TIMEOUT_USEC=US, sleep MS ms and exit 0
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

static void notify(const std::string& msg) {
    const char* path = getenv("NOTIFY_SOCKET");
    if (path == nullptr) {
        return;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    close(fd);
}

static void sleep_ms(long ms) {
    usleep(static_cast<useconds_t>(ms) * 1000);
}

int main(int argc, char** argv) {
    if (argc <= 2 && (argc == 1 || (argv[1][0] >= '0' && argv[1][0] <= '9'))) {
        long delay_ms = argc > 1 ? atol(argv[1]) : 300;
        notify("STATUS=warming up");
        sleep_ms(delay_ms);
        notify("READY=1\nSTATUS=serving");
    } else {
        long term_extend_us = -1;
        long term_extend_ms = 0;
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "ignore-term") {
                signal(SIGTERM, SIG_IGN);
            } else if (a.rfind("sleep=", 0) == 0) {
                sleep_ms(atol(a.c_str() + 6));
            } else if (a.rfind("send=", 0) == 0) {
                std::string m = a.substr(5);
                for (char& c : m) {
                    c = c == '|' ? '\n' : c;
                }
                notify(m);
            } else if (a.rfind("env=", 0) == 0) {
                const char* v = getenv(a.c_str() + 4);
                notify("STATUS=" + a.substr(4) + "=" + (v != nullptr ? v : "unset"));
            } else if (a.rfind("ping=", 0) == 0) {
                long ms = atol(a.c_str() + 5);
                const char* comma = strchr(a.c_str(), ',');
                long n = comma != nullptr ? atol(comma + 1) : 1;
                for (long k = 0; k < n; ++k) {
                    sleep_ms(ms);
                    notify("WATCHDOG=1");
                }
            } else if (a.rfind("term-extend=", 0) == 0) {
                term_extend_us = atol(a.c_str() + 12);
                const char* comma = strchr(a.c_str(), ',');
                term_extend_ms = comma != nullptr ? atol(comma + 1) : 0;
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGTERM);
                sigprocmask(SIG_BLOCK, &set, nullptr);
            } else {
                fprintf(stderr, "notify_helper: unknown step %s\n", a.c_str());
                return 2;
            }
        }
        if (term_extend_us >= 0) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGTERM);
            int sig = 0;
            sigwait(&set, &sig);
            notify("EXTEND_TIMEOUT_USEC=" + std::to_string(term_extend_us));
            sleep_ms(term_extend_ms);
            return 0;
        }
    }
    while (true) {
        pause();
    }
}
