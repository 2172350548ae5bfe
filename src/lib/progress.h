/*
 * progress.h -- recognises progress in a command's output lines.
 *
 * The daemon hands every output line, and every carriage-return segment of
 * one (a bar redrawn in place), to tl__progress_parse(); with
 * --progress-regex it uses a user pattern (tl__progress_re_*) instead.
 * Lines arrive already split at '\n' and '\r', without the terminator.
 *
 * A reading: percent is 0..100, or NAN when the line gives only a count;
 * current and total are NAN when the line does not give them. When a line
 * gives current and total but no percent, percent is 100 * current / total.
 * unit is "B" (sizes converted to bytes), "it", "files", "layers", "tasks"
 * or "". Sizes: KiB/MiB/GiB... are powers of 1024, kB/MB/GB... powers of
 * 1000; a bare K/M/G is read as the tool that prints it means it (1024 for
 * curl and wget, 1000 for tqdm and rsync -h).
 *
 * Recognisers, tried in this order; the first that accepts wins:
 *   tqdm         " 45%|####5     | 45/100 [00:04<00:05,  9.80it/s]",
 *                also "3.85GB [00:00, 18.6GB/s]" (a count, no total)
 *   curl meter   "  45 8500M   45 3842M    0     0  52.1M      0  0:02:43 .."
 *   rsync        "  3,842,000,000  45%   52.10MB/s    0:01:30 (xfr#11, ..)"
 *   wget bar     "file.iso   45%[=====>    ]   3.80G  52.1MB/s  eta 90s"
 *   git          "Receiving objects:  45% (450/1000), 3.80 MiB | .."
 *   dd           "3842000000 bytes (3.8 GB, 3.6 GiB) copied, 73 s, .."
 *   size pair    "3.842MB/8.5MB" (docker), "3.8/8.5 MB" (pip),
 *                "3.84MB / 8.50MB", "3.8 MB of 8.5 MB"
 *   apt acquire  "45% [Working]": a percentage opening the line, then '['
 *   bracketed    "[ 45%]" anywhere (cmake, apt Progress-Fancy, pytest);
 *                the last one in the line
 *   percent      the generic rule below
 *   counter      "N/M" and "N of M", by the rule below
 *
 * Rules against false readings:
 *   - A percentage is a number ending at '%' (one space allowed before
 *     it), not glued to a letter, digit, '.', '+' or '-' in front, and not
 *     followed by a letter or digit ("%20", "%d" are not percentages). One
 *     above 100 is never progress.
 *   - The generic percent rule takes a line only when the percentage is
 *     the line's only one and the line is mostly that percentage: at most
 *     3 words (a word is a run of two or more ASCII letters not glued to a
 *     digit, so "MiB" in "80.0MiB" is not one), or at most 6 when one of
 *     them is a progress word (progress, complete, done, eta, ...), and
 *     none is a comparison or measurement word (of, by, up, cpu, memory,
 *     usage, coverage, ...), and when no path follows it (df's
 *     "79G  18% /"). "Reduced costs by 45% last year" is no progress;
 *     "45% complete" and "Reading package lists... 45%" are.
 *   - A counter N/M needs whole numbers without leading zeros, 0 < M,
 *     N <= M, neither glued to a letter, digit, '/', '.', ':', '=', '-'
 *     or '_' on its outer side ('.' or ':' after M only when more
 *     follows, so "Step 3/10." counts), so dates (2026/11/21, 03/04),
 *     paths (src/1/2), versions (1.2/3.4), times (12:30/13:45),
 *     "HTTP/1.1", CIDR suffixes and "0/0" never count. It also needs a
 *     shape: in brackets not glued to a word ("[3/10]", "(3/10)", not
 *     "worker[3/8]"), next to a counter word ("Step 3/10", "11/24
 *     layers", "1/3 Test"), just after a bar ("] 45/100"), before a bar
 *     or a time ("45/100 [===>", "5/8 [00:02<"), or alone on the line.
 *     "N of M" and "N out of M" need a counter word before or after
 *     ("task 50 of 154").
 *   - A size pair needs a byte unit, and a unit on the left must be glued
 *     to its number, so apt's "Need to get 0 B/53.5 kB" is not progress;
 *     a rate ("52.1MB/s") is never a total.
 *   - Docker's "Pull complete", "Download complete" carry no numbers and
 *     are not progress: one layer being done says little about the pull.
 *
 * Terminal escapes (colours, cursor moves) are dropped before any rule
 * runs. Lines longer than TL__PROGRESS_MAX_LINE bytes are never progress.
 *
 * Threads: tl__progress_parse() is pure and may run on any thread. A
 * compiled tl__progress_re_t may be matched by one thread at a time (it
 * owns its match data); compile and free may run on any thread.
 */
#ifndef TL_PROGRESS_H
#define TL_PROGRESS_H

#include <stddef.h>

#define TL__PROGRESS_MAX_LINE 4096

typedef struct tl__progress_reading {
    double percent; /* 0..100, or NAN when the line gives only a count */
    double current; /* NAN when unknown */
    double total;   /* NAN when unknown */
    char unit[16];  /* "B", "it", "files", "layers", "tasks" or "" */
} tl__progress_reading_t;

/* 1 when the line shows progress (fills *out), 0 when not (leaves *out
 * alone). line need not be NUL-terminated. Never allocates; uses about
 * TL__PROGRESS_MAX_LINE bytes of stack. */
int tl__progress_parse(const char *line, size_t len,
                       tl__progress_reading_t *out);

/* A user pattern (--progress-regex): PCRE2, UTF-8 (invalid UTF-8 in a line
 * is tolerated), JIT when available. Named groups (?<percent>..),
 * (?<current>..), (?<total>..); without names, one group is the percent,
 * two or more are current (1) and total (2). A group's text is read as a
 * number with optional thousands commas and an optional unit: a byte unit
 * ("3.8 MB") converts to bytes and sets unit "B", a bare K/M/G multiplies
 * by powers of 1000. A line matches when the groups give a percent or a
 * count that passes the same checks as above (percent <= 100, current <=
 * total). Escapes are dropped first, as for tl__progress_parse(). A match
 * needing over 100000 backtracking steps counts as no match. */
typedef struct tl__progress_re tl__progress_re_t;

/* Compiles pattern into *out, freed with tl__progress_re_free(). Returns
 * TL_EINVAL with err set ("bad pattern at offset 3: missing closing
 * parenthesis", "pattern has no capture group") or TL_ENOMEM. */
int tl__progress_re_compile(const char *pattern, tl__progress_re_t **out,
                            char *err, size_t errlen);
/* 1 and *out filled when line matches and gives progress, else 0. */
int tl__progress_re_match(const tl__progress_re_t *re, const char *line,
                          size_t len, tl__progress_reading_t *out);
/* Accepts NULL. */
void tl__progress_re_free(tl__progress_re_t *re);

#endif
