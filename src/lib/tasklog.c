/*
 * tasklog.c -- per-task log files, LOGS_DIR/ID.log and LOGS_DIR/ID.log.1.
 *
 * DESIGN: a record is one line, "TIMESTAMP STREAM TEXT\n", built whole in a
 * buffer owned by the log and handed to one write(2) on an O_APPEND |
 * O_CLOEXEC fd (opened with the first line: a task that prints nothing has
 * no file), so a crash of the daemon loses no appended line and child
 * processes never inherit the fd. TEXT never holds a newline or another
 * control character but tab (each becomes '?'), so one line is one record;
 * it is at most TL__LOG_LINE_MAX bytes, a longer one being cut at a UTF-8
 * character boundary and ended with "[...]". The log keeps the size of
 * ID.log; when a line would take it past cap/2, ID.log is renamed ID.log.1
 * (dropping the older half) and a new ID.log is started, so the two files
 * hold at most about cap bytes, the newest ones. Files are created 0600 and
 * logs_dir 0700. Reading the tail scans ID.log backwards in blocks and only
 * goes to ID.log.1 when ID.log has too few lines, so the cost follows the
 * lines asked for, not the size of the log. Single-threaded: the manager
 * thread appends, rotates and reads; the read assumes no rotation happens
 * while it runs.
 */
#include "tasklog.h"

#include "tasklight.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_MAX 32 /* what tl__fmt_time needs */
#define CUT_MARK "[...]"
#define CUT_MARK_LEN (sizeof(CUT_MARK) - 1)
#define TAIL_BLOCK (64 * 1024)

struct tl__tasklog {
    int fd;       /* -1 until the first line: a silent task makes no file */
    char *dir;    /* logs_dir, made on the first line if missing */
    int64_t cap;  /* bytes kept over both files */
    int64_t size; /* bytes in ID.log */
    char *path;   /* ID.log */
    char *path1;  /* ID.log.1 */
    bool dropped; /* ID.log.dropped exists */
    char *held;   /* lines kept until the file exists (append_held) */
    size_t held_len;
};

/* The record being written: "TIMESTAMP S " + TEXT + "\n". One per thread,
 * not one per log: every task has a log, most never print, and zeroing
 * 8 KiB for each was a tenth of a short function task's cost. A record is
 * built and written (or held) before the next is built. */
static _Thread_local char record[TS_MAX + 3 + TL__LOG_LINE_MAX + 1];

static int err_from_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return TL_EFULL;
    case ENOMEM:
        return TL_ENOMEM;
    default:
        return TL_EIO;
    }
}

/* "DIR/ID.log" followed by suffix, malloc'd; NULL when out of memory. */
static char *log_path(const char *dir, int64_t id, const char *suffix)
{
    int n = snprintf(NULL, 0, "%s/%" PRId64 ".log%s", dir, id, suffix);
    char *p;

    if (n < 0)
        return NULL;
    p = malloc((size_t)n + 1);
    if (p)
        snprintf(p, (size_t)n + 1, "%s/%" PRId64 ".log%s", dir, id, suffix);
    return p;
}

/* ---- appending -------------------------------------------------------- */

static int open_append(const char *path, int *fd)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return *fd < 0 ? err_from_errno(errno) : 0;
}

/* Opens path for appending, making logs_dir (one level) if it is missing. */
static int open_in_dir(const char *logs_dir, const char *path, int *fd)
{
    int rc = open_append(path, fd);

    if (rc == 0 || errno != ENOENT)
        return rc;
    if (mkdir(logs_dir, 0700) != 0 && errno != EEXIST)
        return err_from_errno(errno);
    return open_append(path, fd);
}

static int file_size(int fd, int64_t *size)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return err_from_errno(errno);
    *size = (int64_t)st.st_size;
    return 0;
}

/* The file is opened on the first line, not with the log: most short
 * tasks print nothing, and creating an inode per task was a third of the
 * daemon's time running `true` tasks. A retried task appends to the file
 * its earlier attempts left. */
static int open_file(tl__tasklog_t *l)
{
    int rc = open_in_dir(l->dir, l->path, &l->fd);
    if (!rc && (rc = file_size(l->fd, &l->size)) != 0) {
        close(l->fd);
        l->fd = -1;
    }
    return rc;
}

int tl__tasklog_open(const char *logs_dir, int64_t id, int64_t cap_bytes,
                     tl__tasklog_t **out)
{
    tl__tasklog_t *l = NULL;
    int rc = 0;

    if (!logs_dir || !out || cap_bytes <= 0)
        return TL_EINVAL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return TL_ENOMEM;
    l->fd = -1;
    l->cap = cap_bytes;
    l->dir = strdup(logs_dir);
    l->path = log_path(logs_dir, id, "");
    l->path1 = log_path(logs_dir, id, ".1");
    if (!l->dir || !l->path || !l->path1) {
        rc = TL_ENOMEM;
        goto out;
    }
    *out = l;
    l = NULL;
out:
    tl__tasklog_close(l);
    return rc;
}

void tl__tasklog_close(tl__tasklog_t *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->held);
    free(l->dir);
    free(l->path);
    free(l->path1);
    free(l);
}

/* How many bytes of a text longer than TL__LOG_LINE_MAX to keep so that,
 * with the cut mark, it fits; never splits a UTF-8 sequence of valid
 * length. */
static size_t cut_len(const char *text)
{
    size_t keep = TL__LOG_LINE_MAX - CUT_MARK_LEN;
    size_t back;

    for (back = 0; back < 3 && keep > 0; back++, keep--) {
        if (((unsigned char)text[keep] & 0xC0) != 0x80)
            break;
    }
    return keep;
}

static void copy_clean(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = ((c < 0x20 && c != '\t') || c == 0x7f) ? '?' : (char)c;
    }
}

/* Builds the record in `record` and returns its length. */
static size_t format_line(int64_t ts_ms, char stream, const char *text,
                          size_t len)
{
    char ts[TS_MAX];
    size_t n, keep = len;

    tl__fmt_time(ts_ms, ts, sizeof(ts));
    n = strnlen(ts, sizeof(ts) - 1);
    memcpy(record, ts, n);
    record[n++] = ' ';
    record[n++] = stream;
    record[n++] = ' ';
    if (len > TL__LOG_LINE_MAX)
        keep = cut_len(text);
    copy_clean(record + n, text, keep);
    n += keep;
    if (keep < len) {
        memcpy(record + n, CUT_MARK, CUT_MARK_LEN);
        n += CUT_MARK_LEN;
    }
    record[n++] = '\n';
    return n;
}

/* Renames ID.log to ID.log.1 and starts a new ID.log. A missing ID.log (a
 * rotation that failed half-way) is not an error. */
static int rotate(tl__tasklog_t *l)
{
    int fd, rc;

    if (rename(l->path, l->path1) != 0 && errno != ENOENT)
        return err_from_errno(errno);
    rc = open_append(l->path, &fd);
    if (rc)
        return rc;
    close(l->fd);
    l->fd = fd;
    l->size = 0;
    return 0;
}

static int write_all(tl__tasklog_t *l, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(l->fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return err_from_errno(errno);
        }
        l->size += w;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ID.log.dropped: output was dropped to stay under the cap. A file of
 * its own, so the log holds only what the task said. */
static int mark_dropped(tl__tasklog_t *l)
{
    size_t n = strlen(l->path);
    char *p = malloc(n + sizeof(".dropped"));
    if (!p)
        return TL_ENOMEM;
    memcpy(p, l->path, n);
    memcpy(p + n, ".dropped", sizeof(".dropped"));
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    free(p);
    if (fd < 0)
        return err_from_errno(errno);
    close(fd);
    return 0;
}

static int check_line(const tl__tasklog_t *l, char stream, const char *text,
                      size_t len)
{
    if (!l || (!text && len > 0))
        return TL_EINVAL;
    if (stream != 'o' && stream != 'e' && stream != 'i')
        return TL_EINVAL;
    return 0;
}

/* Writes the record built in `record`, rotating first when it would take
 * ID.log past half the cap. */
static int write_record(tl__tasklog_t *l, size_t n)
{
    if (l->size > 0 && l->size + (int64_t)n > l->cap / 2) {
        /* Replacing an older ID.log.1 drops output: the log says so. */
        bool dropping = access(l->path1, F_OK) == 0;
        int rc = rotate(l);
        if (rc)
            return rc;
        if (dropping && !l->dropped)
            l->dropped = mark_dropped(l) == 0;
    }
    return write_all(l, record, n);
}

/* Opens the file if it is not open yet and writes the held lines first. */
static int ensure_file(tl__tasklog_t *l)
{
    int rc = l->fd < 0 ? open_file(l) : 0;
    if (rc || !l->held_len)
        return rc;
    rc = write_all(l, l->held, l->held_len);
    free(l->held);
    l->held = NULL;
    l->held_len = 0;
    return rc;
}

int tl__tasklog_append(tl__tasklog_t *l, int64_t ts_ms, char stream,
                       const char *text, size_t len)
{
    int rc = check_line(l, stream, text, len);
    if (!rc)
        rc = ensure_file(l);
    if (!rc)
        rc = write_record(l, format_line(ts_ms, stream, text, len));
    return rc;
}

int tl__tasklog_append_held(tl__tasklog_t *l, int64_t ts_ms, char stream,
                            const char *text, size_t len)
{
    int rc = check_line(l, stream, text, len);
    if (rc)
        return rc;
    size_t n = format_line(ts_ms, stream, text, len);
    if (l->fd >= 0) /* the file exists: nothing is held any more */
        return write_record(l, n);
    char *held = realloc(l->held, l->held_len + n);
    if (!held)
        return TL_ENOMEM;
    memcpy(held + l->held_len, record, n);
    l->held = held;
    l->held_len += n;
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

/* One file's share of the tail: bytes [start, size) of fd. */
typedef struct part {
    int fd; /* -1 when the file does not exist */
    int64_t size;
    int64_t start;
} part_t;

static int part_open(const char *path, part_t *p)
{
    p->size = 0;
    p->start = 0;
    p->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (p->fd < 0)
        return errno == ENOENT ? 0 : err_from_errno(errno);
    return file_size(p->fd, &p->size);
}

static void part_close(part_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static int pread_full(int fd, char *buf, size_t n, int64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_from_errno(errno);
        if (r == 0)
            return TL_EIO; /* the file shrank under us */
        buf += r;
        off += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Sets p->start to the first byte of the last `want` lines of the file,
 * scanning backwards in blocks, and *found to how many lines that is (fewer
 * than want when the file has fewer). A last line without its newline
 * counts as a line. */
static int part_find_tail(part_t *p, long want, char *blk, long *found)
{
    int64_t pos = p->size;
    long count = 0;
    int rc;

    while (pos > 0) {
        size_t n = pos > TAIL_BLOCK ? TAIL_BLOCK : (size_t)pos;
        size_t i;
        pos -= (int64_t)n;
        rc = pread_full(p->fd, blk, n, pos);
        if (rc)
            return rc;
        i = n;
        /* The file's final newline ends the last line; it starts none. */
        if (pos + (int64_t)n == p->size && blk[n - 1] == '\n')
            i--;
        while (i-- > 0) {
            if (blk[i] == '\n' && ++count == want) {
                p->start = pos + (int64_t)i + 1;
                *found = want;
                return 0;
            }
        }
    }
    p->start = 0;
    *found = p->size > 0 ? count + 1 : 0;
    return 0;
}

/* Appends p's bytes to buf at *n, then a newline if they lack one. */
static int part_copy(part_t *p, char *buf, size_t *n)
{
    size_t len = (size_t)(p->size - p->start);
    int rc;

    if (len == 0)
        return 0;
    rc = pread_full(p->fd, buf + *n, len, p->start);
    if (rc)
        return rc;
    *n += len;
    if (buf[*n - 1] != '\n')
        buf[(*n)++] = '\n';
    return 0;
}

/* Finds which bytes of ID.log.1 (p1) and ID.log (p0) make the tail. */
static int find_tail(const char *path1, long tail, part_t *p1, part_t *p0)
{
    char *blk = NULL;
    long found = 0;
    int rc = 0;

    if (tail > 0) {
        blk = malloc(TAIL_BLOCK);
        if (!blk)
            return TL_ENOMEM;
        rc = part_find_tail(p0, tail, blk, &found);
        if (rc || found == tail)
            goto out;
    }
    rc = part_open(path1, p1);
    if (rc || tail <= 0 || p1->fd < 0)
        goto out;
    rc = part_find_tail(p1, tail - found, blk, &found);
out:
    free(blk);
    return rc;
}

int tl__tasklog_read_tail(const char *logs_dir, int64_t id, long tail,
                          char **out, size_t *len)
{
    part_t p0 = {-1, 0, 0}, p1 = {-1, 0, 0};
    char *path = NULL, *path1 = NULL, *buf = NULL;
    uint64_t total;
    size_t n = 0;
    int rc = 0;

    if (!logs_dir || !out)
        return TL_EINVAL;
    path = log_path(logs_dir, id, "");
    path1 = log_path(logs_dir, id, ".1");
    if (!path || !path1) {
        rc = TL_ENOMEM;
        goto out;
    }
    rc = part_open(path, &p0);
    if (rc)
        goto out;
    rc = find_tail(path1, tail, &p1, &p0);
    if (rc)
        goto out;
    /* Room for both parts, a newline after each and the NUL. */
    total = (uint64_t)(p1.size - p1.start) + (uint64_t)(p0.size - p0.start);
    if (total > SIZE_MAX - 3) {
        rc = TL_ENOMEM;
        goto out;
    }
    buf = malloc((size_t)total + 3);
    if (!buf) {
        rc = TL_ENOMEM;
        goto out;
    }
    rc = part_copy(&p1, buf, &n);
    if (rc)
        goto out;
    rc = part_copy(&p0, buf, &n);
    if (rc)
        goto out;
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    buf = NULL;
out:
    part_close(&p0);
    part_close(&p1);
    free(buf);
    free(path);
    free(path1);
    return rc;
}

void tl__tasklog_remove(const char *logs_dir, int64_t id)
{
    char *path, *path1;

    if (!logs_dir)
        return;
    path = log_path(logs_dir, id, "");
    path1 = log_path(logs_dir, id, ".1");
    /* The older half first: a crash in between leaves only newer lines. */
    if (path1)
        unlink(path1);
    if (path)
        unlink(path);
    free(path);
    free(path1);
    char *mark = log_path(logs_dir, id, ".dropped");
    if (mark)
        unlink(mark);
    free(mark);
}

int tl__tasklog_truncated(const char *logs_dir, int64_t id)
{
    char *p = log_path(logs_dir, id, ".dropped");
    int t = p && access(p, F_OK) == 0;
    free(p);
    return t;
}
