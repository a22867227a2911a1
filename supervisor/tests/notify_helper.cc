// A tiny sd_notify client for the root tests: STATUS at once, READY=1 after a delay
// (argv[1], ms), then waits for its stop signal like a daemon.
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void notify(const char* msg) {
    const char* path = getenv("NOTIFY_SOCKET");
    if (path == nullptr) {
        return;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    sendto(fd, msg, strlen(msg), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    close(fd);
}

int main(int argc, char** argv) {
    int delay_ms = argc > 1 ? atoi(argv[1]) : 300;
    notify("STATUS=warming up");
    usleep(static_cast<useconds_t>(delay_ms) * 1000);
    notify("READY=1\nSTATUS=serving");
    while (true) {
        pause();
    }
}
