/*
 * exec.h -- running one command as its own process group, capturing its
 * output line by line.
 *
 * DESIGN: posix_spawn (vfork speed) with POSIX_SPAWN_SETPGROUP so the
 * command leads a new process group, default signal dispositions and an
 * empty mask, stdin from /dev/null, and stdout/stderr on two non-blocking
 * pipes read by the loop. glibc reports an exec failure (ENOENT, EACCES)
 * as posix_spawn's return value, so "command not found" is an error of the
 * call, not a mysterious exit 127. Every descriptor of the daemon is
 * close-on-exec. Output is cut into lines at '\n'; text ended by a '\r'
 * (a progress bar redrawn in place) is passed on as a segment, so progress
 * is seen as it is drawn, while the log keeps only what a terminal would
 * end up showing. The caller reaps (SIGCHLD) and calls tl__proc_exited().
 */
#ifndef TL_EXEC_H
#define TL_EXEC_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tl__proc tl__proc_t;

enum {
    TL__PROC_LINE = 0,    /* a line, ended by '\n' (or cut, or at EOF) */
    TL__PROC_SEGMENT = 1, /* text ended by '\r': a redraw, not a line */
};

/* stream is 'o' or 'e'; line without its end; kind a TL__PROC_* value. */
typedef void (*tl__proc_line_cb)(void *ud, char stream, const char *line,
                                 size_t len, int kind);

typedef struct tl__spawn {
    char *const *argv;
    const char *cwd;  /* NULL: inherit */
    char *const *env; /* NULL-terminated */
} tl__spawn_t;

/* Starts the command. On failure returns TL_ESPAWN with the reason in err
 * ("/bin/nope: No such file or directory"). */
int tl__proc_spawn(struct event_base *base, const tl__spawn_t *spec,
                   tl__proc_line_cb cb, void *ud, tl__proc_t **out, char *err,
                   size_t errlen);
pid_t tl__proc_pid(const tl__proc_t *p);
/* Sends sig to the whole process group; 0, or TL_ENOTFOUND when no
 * process of the group is left. */
int tl__proc_signal(tl__proc_t *p, int sig);
/* The leader was reaped: reads what the pipes still hold, SIGKILLs what is
 * left of the group, and stops reading. */
void tl__proc_exited(tl__proc_t *p);
/* Whether any process of the group is still alive. */
int tl__proc_group_alive(const tl__proc_t *p);
void tl__proc_free(tl__proc_t *p);

/* The start time of process pid (clock ticks after boot, from
 * /proc/PID/stat), or 0 when there is no such process. */
int64_t tl__proc_start_time(pid_t pid);
/* The start time of a process spawned just now, in the same clock ticks,
 * read from CLOCK_BOOTTIME (the clock /proc counts them on) rather than
 * from /proc: reading /proc/PID/stat was a twentieth of the daemon's time
 * spent starting short tasks. It may differ from the kernel's by a tick. */
int64_t tl__proc_start_time_now(void);
/* SIGKILLs process group pgid if its leader is still the process that
 * started at start_time, give or take two ticks (pids are reused, but not
 * within 20 ms); returns whether it did. */
int tl__proc_kill_stale(pid_t pgid, int64_t start_time);

#endif
