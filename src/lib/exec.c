/*
 * exec.c -- one command as its own process group, output cut into lines.
 * See exec.h for the DESIGN.
 */
#include "exec.h"

#include "tasklight.h"
#include "tasklog.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct pipe_reader {
    tl__proc_t *proc;
    char stream;
    int fd;
    struct event *ev;
    char buf[TL__LOG_LINE_MAX];
    size_t len;
    bool cr_pending; /* buf holds a segment that ended in '\r' */
} pipe_reader_t;

struct tl__proc {
    pid_t pid; /* also the process group id */
    tl__proc_line_cb cb;
    void *ud;
    pipe_reader_t out, err;
};

pid_t tl__proc_pid(const tl__proc_t *p)
{
    return p->pid;
}

static void emit(pipe_reader_t *r, size_t n, int kind)
{
    r->proc->cb(r->proc->ud, r->stream, r->buf, n, kind);
}

/* One byte of output. A '\n' ends a line. A '\r' ends a segment that a
 * terminal would overwrite (a progress bar redrawn in place): it is passed
 * on for progress at once, and kept until the next byte says whether it
 * was a CRLF line end (then it is the line) or a redraw (then it goes). */
static void feed_byte(pipe_reader_t *r, char c)
{
    if (r->cr_pending) {
        r->cr_pending = false;
        if (c == '\n') {
            emit(r, r->len, TL__PROC_LINE);
            r->len = 0;
            return;
        }
        r->len = 0;
    }
    if (c == '\n') {
        emit(r, r->len, TL__PROC_LINE);
        r->len = 0;
    } else if (c == '\r') {
        emit(r, r->len, TL__PROC_SEGMENT);
        r->cr_pending = true;
    } else {
        if (r->len == sizeof(r->buf)) { /* an endless line: cut it */
            emit(r, r->len, TL__PROC_LINE);
            r->len = 0;
        }
        r->buf[r->len++] = c;
    }
}

static void feed(pipe_reader_t *r, const char *data, size_t n)
{
    while (n > 0) {
        if (r->cr_pending) {
            feed_byte(r, *data++);
            n--;
            continue;
        }
        /* The common case: copy up to the next control byte at once. */
        size_t run = 0, room = sizeof(r->buf) - r->len;
        while (run < n && run < room && data[run] != '\n' && data[run] != '\r')
            run++;
        memcpy(r->buf + r->len, data, run);
        r->len += run;
        data += run;
        n -= run;
        if (n > 0) {
            feed_byte(r, *data++);
            n--;
        }
    }
}

static void flush_partial(pipe_reader_t *r)
{
    if (r->len > 0)
        emit(r, r->len, TL__PROC_LINE);
    r->len = 0;
    r->cr_pending = false;
}

static void close_reader(pipe_reader_t *r)
{
    if (r->ev) {
        event_free(r->ev);
        r->ev = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

/* Reads until EAGAIN; returns 1 at EOF or error. */
static int drain(pipe_reader_t *r)
{
    char chunk[65536];
    for (;;) {
        ssize_t got = read(r->fd, chunk, sizeof(chunk));
        if (got > 0) {
            feed(r, chunk, (size_t)got);
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        flush_partial(r);
        return 1;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    pipe_reader_t *r = arg;
    if (drain(r))
        close_reader(r);
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static int start_reader(struct event_base *base, tl__proc_t *p,
                        pipe_reader_t *r, char stream, int fd)
{
    r->proc = p;
    r->stream = stream;
    r->fd = fd;
    r->len = 0;
    r->cr_pending = false;
    r->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, r);
    if (!r->ev || event_add(r->ev, NULL) != 0)
        return TL_ENOMEM;
    return 0;
}

static int set_spawn_attrs(posix_spawnattr_t *attr)
{
    sigset_t none, defaults;
    sigemptyset(&none);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    int rc = posix_spawnattr_init(attr);
    rc = rc ? rc : posix_spawnattr_setpgroup(attr, 0);
    rc = rc ? rc : posix_spawnattr_setsigmask(attr, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(attr, &defaults);
    rc = rc ? rc
            : posix_spawnattr_setflags(
                  attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                            POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
    return rc;
}

static int set_file_actions(posix_spawn_file_actions_t *fa, int out_w,
                            int err_w, const char *cwd)
{
    int rc = posix_spawn_file_actions_init(fa);
    rc = rc ? rc
            : posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, out_w, 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, err_w, 2);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(fa, cwd);
    return rc;
}

static int spawn_error(int e, const tl__spawn_t *spec, char *err, size_t errlen)
{
    if (e == ENOENT && spec->cwd && access(spec->cwd, X_OK) != 0)
        snprintf(err, errlen, "cannot enter %s: %s", spec->cwd,
                 strerror(errno));
    else if (e == ENOENT)
        snprintf(err, errlen, "command not found: %s (%s)", spec->argv[0],
                 strerror(e));
    else
        snprintf(err, errlen, "cannot start %s: %s", spec->argv[0],
                 strerror(e));
    return TL_ESPAWN;
}

int tl__proc_spawn(struct event_base *base, const tl__spawn_t *spec,
                   tl__proc_line_cb cb, void *ud, tl__proc_t **out, char *err,
                   size_t errlen)
{
    int out_p[2] = {-1, -1}, err_p[2] = {-1, -1};
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    tl__proc_t *p = calloc(1, sizeof(*p));
    if (!p)
        return TL_ENOMEM;
    p->out.fd = p->err.fd = -1;
    if (make_pipe(out_p) || make_pipe(err_p)) {
        snprintf(err, errlen, "cannot make pipes: %s", strerror(errno));
        goto fail;
    }
    int e = set_spawn_attrs(&attr);
    e = e ? e : set_file_actions(&fa, out_p[1], err_p[1], spec->cwd);
    if (!e) {
        e = posix_spawnp(&p->pid, spec->argv[0], &fa, &attr, spec->argv,
                         spec->env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
    }
    close(out_p[1]);
    close(err_p[1]);
    out_p[1] = err_p[1] = -1;
    if (e) {
        spawn_error(e, spec, err, errlen);
        goto fail;
    }
    p->cb = cb;
    p->ud = ud;
    if (start_reader(base, p, &p->out, 'o', out_p[0]) ||
        start_reader(base, p, &p->err, 'e', err_p[0])) {
        out_p[0] = err_p[0] = -1;
        kill(-p->pid, SIGKILL);
        tl__proc_free(p);
        snprintf(err, errlen, "out of memory");
        return TL_ENOMEM;
    }
    *out = p;
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (out_p[i] >= 0)
            close(out_p[i]);
        if (err_p[i] >= 0)
            close(err_p[i]);
    }
    free(p);
    return TL_ESPAWN;
}

int tl__proc_signal(tl__proc_t *p, int sig)
{
    if (kill(-p->pid, sig) != 0)
        return errno == ESRCH ? TL_ENOTFOUND : TL_EIO;
    return 0;
}

int tl__proc_group_alive(const tl__proc_t *p)
{
    return kill(-p->pid, 0) == 0;
}

void tl__proc_exited(tl__proc_t *p)
{
    /* What is left of the group goes with its leader. */
    kill(-p->pid, SIGKILL);
    pipe_reader_t *rs[2] = {&p->out, &p->err};
    for (int i = 0; i < 2; i++) {
        if (rs[i]->fd < 0)
            continue;
        drain(rs[i]);
        flush_partial(rs[i]);
        close_reader(rs[i]);
    }
}

void tl__proc_free(tl__proc_t *p)
{
    if (!p)
        return;
    close_reader(&p->out);
    close_reader(&p->err);
    free(p);
}

int64_t tl__proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip past the
     * last ')', then field 3 onwards; starttime is field 22. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoll(p + 1, NULL, 10) : 0;
}

int64_t tl__proc_start_time_now(void)
{
    static long hz;
    struct timespec ts;
    if (!hz && (hz = sysconf(_SC_CLK_TCK)) <= 0)
        hz = 100;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * hz + (int64_t)ts.tv_nsec / (1000000000 / hz);
}

int tl__proc_kill_stale(pid_t pgid, int64_t start_time)
{
    if (pgid <= 1 || start_time <= 0)
        return 0;
    int64_t actual = tl__proc_start_time(pgid);
    if (actual <= 0 || llabs(actual - start_time) > 2)
        return 0;
    kill(-pgid, SIGKILL);
    return 1;
}
