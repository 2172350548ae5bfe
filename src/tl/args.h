/*
 * args.h -- the pure parsers and formatters of the tl command: durations,
 * priorities, ids, shell quoting and text fitting for display, and an
 * incremental Server-Sent Events parser.
 *
 * No I/O, no curl, no jansson: the unit tests link args.o alone. Functions
 * that allocate return NULL (or -1) on allocation failure and never abort.
 */
#ifndef TL_ARGS_H
#define TL_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* ---- parsers: 0 on success, -1 on anything else (*out untouched) ------- */

/* A duration: a decimal number with an optional unit (ms, s, m, h, d; none
 * means seconds), or several with units ("1h30m"). "30", "1.5m", "500ms" ->
 * seconds in *out. Rejects signs, spaces, exponents, NaN and inf. */
int args_parse_duration(const char *s, double *out);

/* A decimal integer in [min, max]: optional sign, digits, nothing else. */
int args_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* A task id: digits only, 1..INT64_MAX. */
int args_parse_id(const char *s, int64_t *out);

/* A priority: an integer in [ARGS_PRIORITY_MIN, ARGS_PRIORITY_MAX], or
 * low (-10), normal (0), high (10) in any case. */
#define ARGS_PRIORITY_MIN (-1000000000)
#define ARGS_PRIORITY_MAX 1000000000
int args_parse_priority(const char *s, int64_t *out);

/* A decimal number in [min, max]: digits with an optional fraction, no
 * sign, no exponent ("45", "2.5", ".5"). */
int args_parse_number(const char *s, double min, double max, double *out);

/* A percentage for `tl progress`: a number in [0, 100], optionally
 * followed by '%' ("45", "45.5%"). */
int args_parse_percent(const char *s, double *out);

/* "CURRENT/TOTAL" ("50/154"): both numbers, current <= total, total > 0. */
int args_parse_fraction(const char *s, double *current, double *total);

/* "KEY=VALUE" with a non-empty KEY: returns the length of KEY (VALUE
 * starts after the '='), or -1. */
int args_split_kv(const char *s);

/* ---- text ------------------------------------------------------------- */

/* The len bytes at s as valid UTF-8: every byte that does not start a
 * well-formed sequence, and every NUL, becomes U+FFFD. malloc'd and
 * NUL-terminated, its length in *out_len (may be NULL); NULL on allocation
 * failure. */
char *args_utf8_fix(const char *s, size_t len, size_t *out_len);

/* ---- display ---------------------------------------------------------- */

/* s quoted for a POSIX shell, for display: as is when every byte is safe,
 * '...' otherwise, and $'...' with escapes when s holds control bytes (so
 * a command line never puts raw escape sequences on a terminal). malloc'd
 * (free() it); NULL on allocation failure. */
char *args_shell_quote(const char *s);

/* The argc strings of argv, each quoted as above, joined with spaces.
 * malloc'd; NULL on allocation failure. */
char *args_shell_join(const char *const *argv, size_t argc);

/* Seconds as a short elapsed time: "0s", "59s", "3m 20s", "2h 5m",
 * "1d 3h"; "-" for a negative or non-finite value. */
void args_format_elapsed(double s, char *buf, size_t size);

/* A progress bar of inner cells between frame characters, in *buf:
 * "▕████▌     ▏" with unicode (eighth blocks), "[####      ]" without.
 * percent < 0 (unknown) draws an empty track. Returns the columns used
 * (inner + 2); buf must hold inner * 3 + 8 bytes. */
size_t args_format_bar(double percent, size_t inner, int unicode, char *buf,
                       size_t size);

/* ---- table layout ----------------------------------------------------- */

typedef struct args_col {
    size_t natural; /* the widest cell, header included */
    size_t min;     /* the narrowest it may shrink to (<= natural) */
    int drop;       /* 0: always shown; else dropped in this order, 1 first */
    size_t width;   /* out: the width given; 0 when dropped */
} args_col_t;

/* Fits n columns separated by gap spaces into total columns: first every
 * column at its natural width; when too wide, the widest shrinkable
 * columns give up a column at a time down to their min; when still too
 * wide, the column with the lowest drop number is dropped and the fitting
 * starts over. Columns with drop 0 are kept even when they cannot fit.
 * Returns the width of a row (columns and gaps). */
size_t args_fit_columns(args_col_t *cols, size_t n, size_t gap, size_t total);

/* The columns s takes on a terminal, counted as args_fit_text() shows it. */
size_t args_text_width(const char *s);

/* Copies s into buf (size bytes, NUL-terminated) to show in at most width
 * columns: control characters and invalid UTF-8 become '?', and text that
 * does not fit is cut and ends with "…". Returns the columns used. */
size_t args_fit_text(const char *s, size_t width, char *buf, size_t size);

/* ---- Server-Sent Events ----------------------------------------------- */

/* The longest event name and id kept; longer ones are an error. */
#define ARGS_SSE_NAME_MAX 255

typedef struct args_sse_event {
    const char *event; /* "message" when the event named none */
    const char *id;    /* the last id seen on the stream; "" if none */
    const char *data;  /* data lines joined with '\n', NUL-terminated */
    size_t data_len;
} args_sse_event_t;

typedef struct args_sse {
    size_t cap; /* max bytes of one line, and of one event's data */
    char *line; /* the line being read */
    size_t line_len, line_cap;
    char *data; /* data of the event being read */
    size_t data_len, data_cap;
    char event[ARGS_SSE_NAME_MAX + 1];
    char id[ARGS_SSE_NAME_MAX + 1];
    int after_cr;   /* last byte was CR: a following LF ends nothing */
    int first_line; /* the next line is the stream's first (BOM check) */
    int dispatched; /* an event was returned: clear it on the next call */
    int failed;     /* a cap was exceeded or malloc failed; sticky */
} args_sse_t;

/* Starts a parser; cap 0 means 16 MiB. */
void args_sse_init(args_sse_t *p, size_t cap);
void args_sse_free(args_sse_t *p);

/* Consumes bytes from *buf (advancing *buf, decreasing *len) until an event
 * is complete: then returns 1 and fills *ev, valid until the next call.
 * Returns 0 when the input ran out first (call again with more), -1 when a
 * line, the data, an event name or an id exceeds its cap, or malloc
 * failed; the parser then stays failed. Comment lines, retry fields and
 * unknown fields are skipped; line ends may be LF, CR or CRLF. */
int args_sse_next(args_sse_t *p, const char **buf, size_t *len,
                  args_sse_event_t *ev);

#endif
