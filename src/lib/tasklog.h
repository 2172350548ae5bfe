/*
 * tasklog.h -- per-task log files: DATA_DIR/logs/ID.log.
 *
 * DESIGN: one line per record, "TIMESTAMP STREAM TEXT\n" where TIMESTAMP is
 * RFC 3339 UTC with milliseconds and STREAM is 'o' (stdout), 'e' (stderr)
 * or 'i' (tasklight's own notes). Lines longer than TL__LOG_LINE_MAX are cut
 * and end with "[...]". A file is capped: when ID.log would exceed half the
 * cap it is renamed ID.log.1 (replacing an older one) and a new ID.log is
 * started, so the newest cap bytes are kept and old output goes first;
 * when that drops output, an empty ID.log.dropped says so.
 * Appends are write(2) calls on an O_APPEND fd: a process crash loses no
 * line that was appended.
 */
#ifndef TL_TASKLOG_H
#define TL_TASKLOG_H

#include <stddef.h>
#include <stdint.h>

#define TL__LOG_LINE_MAX 8192

typedef struct tl__tasklog tl__tasklog_t;

/* The log of task id under logs_dir, for appending; the file (and
 * logs_dir) is created with the first line appended. */
int tl__tasklog_open(const char *logs_dir, int64_t id, int64_t cap_bytes,
                     tl__tasklog_t **out);
/* Appends one line (text without its newline, len bytes; NULs and other
 * control characters but tab are replaced by U+FFFD's ASCII stand-in '?').
 * ts_ms is the line's time. */
int tl__tasklog_append(tl__tasklog_t *l, int64_t ts_ms, char stream,
                       const char *text, size_t len);
/* Like tl__tasklog_append, but while the file does not exist the line is
 * held in memory: it is written before the next line appended with
 * tl__tasklog_append, and dropped with the log if none comes. The notes a
 * daemon adds about an attempt that went well ("started", "completed") go
 * this way, so a task that prints nothing and succeeds has no file. */
int tl__tasklog_append_held(tl__tasklog_t *l, int64_t ts_ms, char stream,
                            const char *text, size_t len);
void tl__tasklog_close(tl__tasklog_t *l);

/* The last `tail` lines of task id's log (both files), as one malloc'd
 * string with the lines as stored; tail <= 0 means every line. Returns
 * 0 with an empty string when there is no log. */
int tl__tasklog_read_tail(const char *logs_dir, int64_t id, long tail,
                          char **out, size_t *len);
/* Whether the log of task id has dropped output to stay under its cap. */
int tl__tasklog_truncated(const char *logs_dir, int64_t id);
/* Removes ID.log and ID.log.1. */
void tl__tasklog_remove(const char *logs_dir, int64_t id);

#endif
