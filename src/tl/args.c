/*
 * args.c -- pure parsers and formatters of the tl command (see args.h).
 *
 * DESIGN: everything here is a function of its inputs (plus the LC_CTYPE
 * locale, for the width of non-ASCII characters), so the unit tests cover
 * it without a daemon. Input comes from users and from the daemon, so each
 * parser accepts an exact grammar and rejects the rest rather than taking
 * what strtod()/strtoll() would: no spaces, no hex, no exponents, no NaN.
 * The SSE parser is a byte-at-a-time state machine over the spec's line
 * grammar; its buffers are capped, and exceeding a cap is an error.
 */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

/* ---- parsers ---------------------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a unit at *p: advances past it and sets *scale (seconds per unit). */
static int parse_unit(const char **p, double *scale)
{
    const char *s = *p;

    if (s[0] == 'm' && s[1] == 's') {
        *scale = 0.001;
        *p += 2;
        return 0;
    }
    switch (s[0]) {
    case 's':
        *scale = 1;
        break;
    case 'm':
        *scale = 60;
        break;
    case 'h':
        *scale = 3600;
        break;
    case 'd':
        *scale = 86400;
        break;
    default:
        return -1;
    }
    *p += 1;
    return 0;
}

/* Reads "digits[.digits]" or ".digits" at *p into *v. */
static int parse_decimal(const char **p, double *v)
{
    const char *start = *p, *s = *p;
    size_t digits = 0;
    char num[64];

    while (is_digit(*s)) {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            s++;
            digits++;
        }
    }
    if (digits == 0 || (size_t)(s - start) >= sizeof(num))
        return -1;
    memcpy(num, start, (size_t)(s - start));
    num[s - start] = '\0';
    *v = strtod(num, NULL);
    *p = s;
    return 0;
}

int args_parse_duration(const char *s, double *out)
{
    double total = 0, v, scale;
    int parts = 0;

    if (!s || !*s)
        return -1;
    while (*s) {
        if (parse_decimal(&s, &v))
            return -1;
        if (*s == '\0' && parts == 0)
            scale = 1; /* a bare number: seconds */
        else if (parse_unit(&s, &scale))
            return -1;
        total += v * scale;
        parts++;
    }
    if (!isfinite(total))
        return -1;
    *out = total;
    return 0;
}

int args_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *p = s;
    char *end;
    long long v;

    if (!s)
        return -1;
    if (*p == '+' || *p == '-')
        p++;
    if (!is_digit(*p))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int args_parse_id(const char *s, int64_t *out)
{
    if (!s || !is_digit(s[0]))
        return -1;
    return args_parse_int(s, 1, INT64_MAX, out);
}

int args_parse_priority(const char *s, int64_t *out)
{
    static const struct {
        const char *name;
        int64_t value;
    } names[] = {{"low", -10}, {"normal", 0}, {"high", 10}};
    size_t i;

    if (!s)
        return -1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].value;
            return 0;
        }
    }
    return args_parse_int(s, ARGS_PRIORITY_MIN, ARGS_PRIORITY_MAX, out);
}

int args_parse_number(const char *s, double min, double max, double *out)
{
    double v;

    if (!s || parse_decimal(&s, &v) || *s != '\0' || !isfinite(v) || v < min ||
        v > max)
        return -1;
    *out = v;
    return 0;
}

int args_parse_percent(const char *s, double *out)
{
    size_t n = s ? strlen(s) : 0;
    char num[64];

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    if (num[n - 1] == '%')
        num[n - 1] = '\0';
    return args_parse_number(num, 0, 100, out);
}

int args_parse_fraction(const char *s, double *current, double *total)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char num[64];
    double c, t;
    size_t n;

    if (!slash)
        return -1;
    n = (size_t)(slash - s);
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    if (args_parse_number(num, 0, 1e15, &c) ||
        args_parse_number(slash + 1, 0, 1e15, &t) || t <= 0 || c > t)
        return -1;
    *current = c;
    *total = t;
    return 0;
}

int args_split_kv(const char *s)
{
    const char *eq = s ? strchr(s, '=') : NULL;

    if (!eq || eq == s)
        return -1;
    return (int)(eq - s);
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Decodes one well-formed UTF-8 sequence at s into *cp and returns its
 * length, or returns 0 when s does not start one (overlong forms and
 * surrogates included). s is NUL-terminated, so reads stop at the NUL. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
        *cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        *cp = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        *cp = b & 0x07;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 1; i < n; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xBF))
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

char *args_utf8_fix(const char *s, size_t len, size_t *out_len)
{
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    const unsigned char *p = (const unsigned char *)s;
    /* utf8_decode() reads up to 4 bytes past p: decode from a copy */
    unsigned char tmp[5];
    size_t i = 0, o = 0, n, k;
    char *out = malloc(len * 3 + 1);
    uint32_t cp;

    if (!out)
        return NULL;
    while (i < len) {
        for (k = 0; k < 4 && i + k < len; k++)
            tmp[k] = p[i + k];
        tmp[k] = '\0';
        n = p[i] ? utf8_decode(tmp, &cp) : 0;
        if (n == 0) {
            memcpy(out + o, replacement, 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

/* C0, DEL and C1: never shown raw. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

static int cp_width(uint32_t cp)
{
    int w;

    if (cp < 0x7F)
        return 1;
    w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w; /* unknown to the locale: assume narrow */
}

/* What one step of display shows: n input bytes as w columns, output
 * either the bytes themselves (raw) or a '?'. */
static size_t display_step(const unsigned char *p, int *w, int *raw)
{
    uint32_t cp;
    size_t n = utf8_decode(p, &cp);

    if (n == 0 || is_control(cp)) {
        *w = 1;
        *raw = 0;
        return n ? n : 1;
    }
    *w = cp_width(cp);
    *raw = 1;
    return n;
}

size_t args_text_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t width = 0, n;
    int w, raw;

    while (*p) {
        n = display_step(p, &w, &raw);
        width += (size_t)w;
        p += n;
    }
    return width;
}

size_t args_fit_text(const char *s, size_t width, char *buf, size_t size)
{
    static const char ellipsis[] = "\xE2\x80\xA6"; /* U+2026, one column */
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0, o = 0, n, limit;
    int cut, w, raw;

    if (size == 0)
        return 0;
    buf[0] = '\0';
    if (width == 0)
        return 0;
    cut = args_text_width(s) > width;
    limit = cut ? width - 1 : width;
    while (*p) {
        n = display_step(p, &w, &raw);
        if (used + (size_t)w > limit)
            break;
        /* keep room for the ellipsis and the NUL */
        if (o + (raw ? n : 1) + sizeof(ellipsis) > size)
            break;
        if (raw) {
            memcpy(buf + o, p, n);
            o += n;
        } else {
            buf[o++] = '?';
        }
        used += (size_t)w;
        p += n;
    }
    if (cut && o + sizeof(ellipsis) <= size) {
        memcpy(buf + o, ellipsis, sizeof(ellipsis) - 1);
        o += sizeof(ellipsis) - 1;
        used++;
    }
    buf[o] = '\0';
    return used;
}

/* ---- shell quoting ---------------------------------------------------- */

static int is_shell_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
           strchr("@%+=:,./_-", c) != NULL;
}

/* Does s need $'...': control characters or invalid UTF-8? */
static int needs_escapes(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    size_t n;

    while (*p) {
        n = utf8_decode(p, &cp);
        if (n == 0 || is_control(cp))
            return 1;
        p += n;
    }
    return 0;
}

static char *quote_escaped(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(strlen(s) * 4 + 4), *o = out;

    if (!out)
        return NULL;
    *o++ = '$';
    *o++ = '\'';
    for (; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == '\\' ||
            *p == '\'') {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : *p == '\t' ? 't' : *p == '\r' ? 'r' : *p;
        } else if (*p < 0x20 || *p >= 0x7F) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 0xF];
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

char *args_shell_quote(const char *s)
{
    const char *p;
    char *out, *o;
    int safe = *s != '\0';

    for (p = s; *p && safe; p++)
        safe = is_shell_safe((unsigned char)*p);
    if (safe)
        return strdup(s);
    if (needs_escapes(s))
        return quote_escaped(s);
    /* each ' becomes '\'' (4 bytes), plus the quotes and the NUL */
    out = malloc(strlen(s) * 4 + 3);
    if (!out)
        return NULL;
    o = out;
    *o++ = '\'';
    for (p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

char *args_shell_join(const char *const *argv, size_t argc)
{
    char *out = NULL, *q, *grown;
    size_t len = 0, qlen, i;

    out = malloc(1);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (i = 0; i < argc; i++) {
        q = args_shell_quote(argv[i]);
        if (!q)
            goto fail;
        qlen = strlen(q);
        grown = realloc(out, len + qlen + 2);
        if (!grown) {
            free(q);
            goto fail;
        }
        out = grown;
        if (i > 0)
            out[len++] = ' ';
        memcpy(out + len, q, qlen + 1);
        len += qlen;
        free(q);
    }
    return out;
fail:
    free(out);
    return NULL;
}

/* ---- elapsed time ----------------------------------------------------- */

void args_format_elapsed(double s, char *buf, size_t size)
{
    long long t;

    if (!isfinite(s) || s < 0 || s > 9.0e15) {
        snprintf(buf, size, "-");
        return;
    }
    t = (long long)s;
    if (t < 60)
        snprintf(buf, size, "%llds", t);
    else if (t < 3600)
        snprintf(buf, size, "%lldm %llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, size, "%lldh %lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, size, "%lldd %lldh", t / 86400, t % 86400 / 3600);
}

/* ---- progress bars ---------------------------------------------------- */

size_t args_format_bar(double percent, size_t inner, int unicode, char *buf,
                       size_t size)
{
    /* U+258F..U+2588: one eighth to a full block, by eighths */
    static const char *const eighths[] = {
        "",
        "\xE2\x96\x8F",
        "\xE2\x96\x8E",
        "\xE2\x96\x8D",
        "\xE2\x96\x8C",
        "\xE2\x96\x8B",
        "\xE2\x96\x8A",
        "\xE2\x96\x89",
    };
    static const char full[] = "\xE2\x96\x88";
    size_t o = 0, i, cells = 0, part = 0, units;

    if (size < inner * 3 + 8) {
        if (size)
            buf[0] = '\0';
        return 0;
    }
    if (isfinite(percent) && percent > 0) {
        if (percent > 100)
            percent = 100;
        units = (size_t)(percent / 100.0 * (double)(inner * 8) + 0.5);
        cells = units / 8;
        part = unicode ? units % 8 : 0;
        if (!unicode && units % 8 >= 4)
            cells++;
        if (cells > inner)
            cells = inner;
    }
    o += (size_t)snprintf(buf + o, size - o, "%s",
                          unicode ? "\xE2\x96\x95" : "["); /* ▕ */
    for (i = 0; i < cells; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s", unicode ? full : "#");
    if (part && cells < inner) {
        o += (size_t)snprintf(buf + o, size - o, "%s", eighths[part]);
        cells++;
    }
    for (i = cells; i < inner; i++)
        buf[o++] = ' ';
    snprintf(buf + o, size - o, "%s", unicode ? "\xE2\x96\x8F" : "]"); /* ▏ */
    return inner + 2;
}

/* ---- table layout ----------------------------------------------------- */

static size_t row_width(const args_col_t *cols, size_t n, size_t gap)
{
    size_t w = 0, shown = 0, i;

    for (i = 0; i < n; i++) {
        if (cols[i].width == 0)
            continue;
        w += cols[i].width;
        shown++;
    }
    return shown ? w + gap * (shown - 1) : 0;
}

/* Takes one column from the widest column that may still shrink. */
static int shrink_one(args_col_t *cols, size_t n)
{
    size_t i, best = n;

    for (i = 0; i < n; i++) {
        if (cols[i].width == 0 || cols[i].width <= cols[i].min)
            continue;
        if (best == n || cols[i].width > cols[best].width)
            best = i;
    }
    if (best == n)
        return -1;
    cols[best].width--;
    return 0;
}

/* Drops the shown column with the lowest positive drop number. */
static int drop_one(args_col_t *cols, size_t n)
{
    size_t i, best = n;

    for (i = 0; i < n; i++) {
        if (cols[i].width == 0 || cols[i].drop <= 0)
            continue;
        if (best == n || cols[i].drop < cols[best].drop)
            best = i;
    }
    if (best == n)
        return -1;
    cols[best].natural = 0; /* stays dropped when fitting starts over */
    return 0;
}

size_t args_fit_columns(args_col_t *cols, size_t n, size_t gap, size_t total)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (cols[i].min > cols[i].natural)
            cols[i].min = cols[i].natural;
    for (;;) {
        for (i = 0; i < n; i++)
            cols[i].width = cols[i].natural;
        while (row_width(cols, n, gap) > total && shrink_one(cols, n) == 0)
            ;
        if (row_width(cols, n, gap) <= total || drop_one(cols, n))
            return row_width(cols, n, gap);
    }
}

/* ---- Server-Sent Events ----------------------------------------------- */

void args_sse_init(args_sse_t *p, size_t cap)
{
    memset(p, 0, sizeof(*p));
    p->cap = cap ? cap : 16 * 1024 * 1024;
    p->first_line = 1;
}

void args_sse_free(args_sse_t *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

/* Grows *buf to hold at least need bytes (need <= cap + 1). */
static int reserve(char **buf, size_t *bufcap, size_t need)
{
    size_t n = *bufcap ? *bufcap : 64;
    char *grown;

    if (need <= *bufcap)
        return 0;
    while (n < need)
        n *= 2;
    grown = realloc(*buf, n);
    if (!grown)
        return -1;
    *buf = grown;
    *bufcap = n;
    return 0;
}

static int field_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int set_name(char *dst, const char *val, size_t len)
{
    if (len > ARGS_SSE_NAME_MAX)
        return -1;
    memcpy(dst, val, len);
    dst[len] = '\0';
    return 0;
}

static int append_data(args_sse_t *p, const char *val, size_t len)
{
    if (p->data_len + len + 1 > p->cap)
        return -1;
    if (reserve(&p->data, &p->data_cap, p->data_len + len + 2))
        return -1;
    memcpy(p->data + p->data_len, val, len);
    p->data_len += len;
    p->data[p->data_len++] = '\n';
    p->data[p->data_len] = '\0';
    return 0;
}

/* An empty line ends an event: returns 1 with *ev when it has data. */
static int dispatch(args_sse_t *p, args_sse_event_t *ev)
{
    if (p->data_len == 0) {
        p->event[0] = '\0';
        return 0;
    }
    p->data[--p->data_len] = '\0'; /* the last data line's '\n' */
    ev->event = p->event[0] ? p->event : "message";
    ev->id = p->id;
    ev->data = p->data;
    ev->data_len = p->data_len;
    p->dispatched = 1;
    return 1;
}

/* Handles one complete line (without its end): 1 with *ev, 0, or -1. */
static int process_line(args_sse_t *p, args_sse_event_t *ev)
{
    const char *line = p->line, *val, *colon;
    size_t n = p->line_len, name_len, val_len;

    if (p->first_line) {
        p->first_line = 0;
        if (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            n -= 3;
        }
    }
    if (n == 0)
        return dispatch(p, ev);
    if (line[0] == ':')
        return 0; /* a comment (": ping") */
    colon = memchr(line, ':', n);
    if (colon) {
        name_len = (size_t)(colon - line);
        val = colon + 1;
        val_len = n - name_len - 1;
        if (val_len > 0 && *val == ' ') {
            val++;
            val_len--;
        }
    } else {
        name_len = n;
        val = "";
        val_len = 0;
    }
    if (field_is(line, name_len, "event"))
        return set_name(p->event, val, val_len);
    if (field_is(line, name_len, "data"))
        return append_data(p, val, val_len);
    if (field_is(line, name_len, "id") && !memchr(val, '\0', val_len))
        return set_name(p->id, val, val_len);
    return 0; /* retry and unknown fields */
}

int args_sse_next(args_sse_t *p, const char **buf, size_t *len,
                  args_sse_event_t *ev)
{
    char c;
    int r;

    if (p->failed)
        return -1;
    if (p->dispatched) {
        p->dispatched = 0;
        p->data_len = 0;
        p->event[0] = '\0';
    }
    while (*len > 0) {
        c = **buf;
        (*buf)++;
        (*len)--;
        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n')
                continue; /* the LF of a CRLF */
        }
        if (c == '\r' || c == '\n') {
            p->after_cr = c == '\r';
            r = process_line(p, ev);
            p->line_len = 0;
            if (r < 0)
                goto fail;
            if (r > 0)
                return 1;
            continue;
        }
        if (p->line_len >= p->cap ||
            reserve(&p->line, &p->line_cap, p->line_len + 1))
            goto fail;
        p->line[p->line_len++] = c;
    }
    return 0;
fail:
    p->failed = 1;
    return -1;
}
