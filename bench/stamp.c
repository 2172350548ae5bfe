/*
 * stamp.c -- the command the start-latency case runs: writes the monotonic
 * clock, read first thing in main(), as 8 bytes to the fifo in argv[1].
 */
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec ts;
    int64_t ns;
    int fd;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (argc < 2)
        return 2;
    fd = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, &ns, sizeof(ns)) != (ssize_t)sizeof(ns))
        return 1;
    close(fd);
    return 0;
}
