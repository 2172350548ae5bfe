/*
 * progress.c -- recognises progress in command output lines (the rules and
 * formats are listed in progress.h).
 *
 * DESIGN: tl__progress_parse() runs on the manager thread for every line
 * and carriage-return segment a task prints, so it never allocates and
 * most lines cost one pass: that pass collects which characters the line
 * has ('%', '/', '[', ':', digits), and each recogniser in the table names
 * the ones it needs, so a log line without '%' or '/' is turned down
 * before any recogniser scans it. Recognisers are small functions over a
 * struct line, tried in table order, tool shapes first and the generic
 * percent and counter rules last; the first that accepts wins, and
 * finish() applies the checks every reading must pass (percent 0..100,
 * current <= total, finite values). A line with terminal escapes is copied
 * without them into a stack buffer; TL__PROGRESS_MAX_LINE bounds both that
 * buffer and the work per line. Every scan moves forward through the line
 * or looks back a bounded way, so the cost is linear in the line.
 *
 * The user pattern is PCRE2, JIT-compiled when the library supports it,
 * with a match limit so a pathological pattern fails one match instead of
 * stalling the manager. It owns its match data, hence one matching thread
 * at a time.
 */
#include "progress.h"

#include "tasklight.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define RE_MATCH_LIMIT 100000
#define MAX_DIGITS 18 /* longer numbers are not counts anyone prints */

struct line {
    const char *s;
    size_t n;
    size_t lead;  /* where the first non-space is */
    unsigned has; /* F_* */
};

enum {
    F_DIGIT = 1u << 0,
    F_PCT = 1u << 1,
    F_SLASH = 1u << 2,
    F_BRACKET = 1u << 3, /* '[' */
    F_COLON = 1u << 4,
    F_OF = 1u << 5, /* " of ", found after the pass */
    F_SEP = 1u << 6 /* F_SLASH or F_OF: what a pair or counter needs */
};

static const unsigned char char_has[256] = {
    ['0'] = F_DIGIT,   ['1'] = F_DIGIT, ['2'] = F_DIGIT, ['3'] = F_DIGIT,
    ['4'] = F_DIGIT,   ['5'] = F_DIGIT, ['6'] = F_DIGIT, ['7'] = F_DIGIT,
    ['8'] = F_DIGIT,   ['9'] = F_DIGIT, ['%'] = F_PCT,   ['/'] = F_SLASH,
    ['['] = F_BRACKET, [':'] = F_COLON,
};

/* ---- characters and numbers ------------------------------------------ */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(int c)
{
    return is_digit(c) || is_alpha(c);
}

static int is_space(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The byte at i, or 0 past either end. */
static int at(const struct line *l, size_t i)
{
    return i < l->n ? (unsigned char)l->s[i] : 0;
}

/* The byte before i, or 0 at the start. */
static int before(const struct line *l, size_t i)
{
    return i > 0 && i <= l->n ? (unsigned char)l->s[i - 1] : 0;
}

/* What progress bars are drawn with: "=>#.- " and UTF-8 blocks. */
static int is_bar(int c)
{
    return c == '=' || c == '>' || c == '#' || c == '.' || c == '-' ||
           c == ' ' || c >= 0x80;
}

static size_t skip_spaces(const struct line *l, size_t i)
{
    while (i < l->n && is_space((unsigned char)l->s[i]))
        i++;
    return i;
}

static size_t skip_to_space(const struct line *l, size_t i)
{
    while (i < l->n && !is_space((unsigned char)l->s[i]))
        i++;
    return i;
}

static int has_prefix(const struct line *l, size_t i, const char *p)
{
    size_t k = strlen(p);

    return i <= l->n && l->n - i >= k && memcmp(l->s + i, p, k) == 0;
}

/* The first "ab" in the line, or NULL; memchr on a beats memmem on lines
 * this short. */
static const char *find2(const struct line *l, char a, char b)
{
    const char *p = l->s, *end = l->s + l->n;

    while (end - p >= 2 && (p = memchr(p, a, (size_t)(end - p - 1))) != NULL) {
        if (p[1] == b)
            return p;
        p++;
    }
    return NULL;
}

/* Parses "123" or "123.45" at i into *v. Returns the end, or i when there
 * is no number (or an absurdly long one). */
static size_t scan_num(const struct line *l, size_t i, double *v)
{
    double x = 0, scale = 1;
    size_t j = i;

    *v = 0; /* defined even when there is no number */
    while (j < l->n && is_digit(l->s[j]))
        x = x * 10 + (l->s[j++] - '0');
    if (j == i || j - i > MAX_DIGITS)
        return i;
    if (at(l, j) == '.' && is_digit(at(l, j + 1))) {
        size_t f = ++j;
        while (j < l->n && is_digit(l->s[j])) {
            x = x * 10 + (l->s[j++] - '0');
            scale *= 10;
        }
        if (j - f > MAX_DIGITS)
            return i;
        x /= scale;
    }
    *v = x;
    return j;
}

/* A whole number, digits only. */
static size_t scan_int(const struct line *l, size_t i, double *v)
{
    size_t j = i;
    double x = 0;

    *v = 0;
    while (j < l->n && is_digit(l->s[j]))
        x = x * 10 + (l->s[j++] - '0');
    if (j == i || j - i > MAX_DIGITS)
        return i;
    *v = x;
    return j;
}

/* "3,842,000,000" (commas only between groups of three, then maybe a
 * fraction) or a plain number. */
static size_t scan_grouped(const struct line *l, size_t i, double *v)
{
    size_t j = scan_int(l, i, v);
    double x = *v;

    if (j == i || j - i > 3 || at(l, j) != ',')
        return scan_num(l, i, v);
    while (at(l, j) == ',' && is_digit(at(l, j + 1)) &&
           is_digit(at(l, j + 2)) && is_digit(at(l, j + 3)) &&
           !is_digit(at(l, j + 4))) {
        x = x * 1000 + (l->s[j + 1] - '0') * 100 + (l->s[j + 2] - '0') * 10 +
            (l->s[j + 3] - '0');
        j += 4;
    }
    if (at(l, j) == '.' && is_digit(at(l, j + 1))) {
        double scale = 1, frac = 0;
        for (j++; j < l->n && is_digit(l->s[j]) && scale < 1e18; j++) {
            frac = frac * 10 + (l->s[j] - '0');
            scale *= 10;
        }
        x += frac / scale;
    }
    *v = x;
    return j;
}

/* Where a number (digits and '.') ending at end starts; end when none. */
static size_t num_start(const struct line *l, size_t end)
{
    size_t b = end;

    while (b > 0 && end - b <= MAX_DIGITS * 2 + 1 &&
           (is_digit(l->s[b - 1]) || l->s[b - 1] == '.'))
        b--;
    while (b < end && !is_digit(l->s[b])) /* a leading '.' */
        b++;
    return b;
}

/* The number that ends exactly at end, into *v; returns its start, or end
 * when there is none. */
static size_t num_ending_at(const struct line *l, size_t end, double *v)
{
    size_t b = num_start(l, end);

    if (b == end || scan_num(l, b, v) != end)
        return end;
    return b;
}

static double power(double base, int n)
{
    double x = 1;

    while (n-- > 0)
        x *= base;
    return x;
}

static int si_index(int c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 1;
    case 'M':
        return 2;
    case 'G':
        return 3;
    case 'T':
        return 4;
    case 'P':
        return 5;
    case 'E':
        return 6;
    case 'Z':
        return 7;
    case 'Y':
        return 8;
    default:
        return 0;
    }
}

/* A byte unit at i: "B", "kB", "MB", "MiB", ..., or with bare_base set a
 * lone "K", "M", "G" (powers of bare_base). It must not run on into a
 * letter. Sets *mult; returns the end, or i when there is no unit. */
static size_t scan_byte_unit(const struct line *l, size_t i, double bare_base,
                             double *mult)
{
    int k = si_index(at(l, i));
    size_t j = i;

    if (at(l, i) == 'B') {
        *mult = 1;
        j = i + 1;
    } else if (k > 0 && k <= 6) {
        if (at(l, i + 1) == 'i' && at(l, i + 2) == 'B') {
            *mult = power(1024, k);
            j = i + 3;
        } else if (at(l, i + 1) == 'B') {
            *mult = power(1000, k);
            j = i + 2;
        } else if (bare_base > 0) {
            *mult = power(bare_base, k);
            j = i + 1;
        }
    }
    if (j == i || is_alpha(at(l, j)))
        return i;
    return j;
}

/* ---- words -------------------------------------------------------------
 * Small case-insensitive tables: the words that make "N/M" a counter (and
 * name its unit), and the ones that make a percentage progress or not. */

struct word {
    const char *w;
    size_t len;
    const char *unit; /* for counter words */
};

#define W(w, unit)                                                             \
    {                                                                          \
        w, sizeof(w) - 1, unit                                                 \
    }

static const struct word counter_words[] = {
    W("task", "tasks"),    W("tasks", "tasks"),   W("layer", "layers"),
    W("layers", "layers"), W("file", "files"),    W("files", "files"),
    W("it", "it"),         W("item", "it"),       W("items", "it"),
    W("iteration", "it"),  W("iterations", "it"), W("step", ""),
    W("steps", ""),        W("stage", ""),        W("stages", ""),
    W("test", ""),         W("tests", ""),        W("job", ""),
    W("jobs", ""),         W("part", ""),         W("parts", ""),
    W("chunk", ""),        W("chunks", ""),       W("page", ""),
    W("pages", ""),        W("epoch", ""),        W("batch", ""),
    W("batches", ""),      W("object", ""),       W("objects", ""),
    W("package", ""),      W("packages", ""),     W("target", ""),
    W("targets", ""),      W("module", ""),       W("modules", ""),
    W("record", ""),       W("records", ""),      W("row", ""),
    W("rows", ""),         W("image", ""),        W("images", ""),
    W("building", ""),     W("compiling", ""),    W("processing", ""),
    W("downloading", ""),  W("uploading", ""),    W("installing", ""),
    W("copying", ""),      W("extracting", ""),   W("checking", ""),
    W("running", ""),      W("testing", ""),      W("fetching", ""),
    W("pulling", ""),      W("pushing", ""),      W("linking", ""),
    W("progress", ""),     W("done", ""),         W("completed", ""),
    W("processed", ""),    W("downloaded", ""),   W("uploaded", ""),
};

static const struct word progress_words[] = {
    W("progress", ""),   W("complete", ""),    W("completed", ""),
    W("done", ""),       W("finished", ""),    W("eta", ""),
    W("downloaded", ""), W("uploaded", ""),    W("transferred", ""),
    W("processed", ""),  W("downloading", ""), W("uploading", ""),
    W("loading", ""),    W("reading", ""),     W("writing", ""),
    W("copying", ""),    W("extracting", ""),  W("installing", ""),
    W("building", ""),   W("scanning", ""),
};

/* A percentage next to one of these measures or compares something. */
static const struct word stop_words[] = {
    W("of", ""),          W("by", ""),       W("up", ""),
    W("down", ""),        W("off", ""),      W("than", ""),
    W("over", ""),        W("cpu", ""),      W("mem", ""),
    W("memory", ""),      W("usage", ""),    W("used", ""),
    W("disk", ""),        W("load", ""),     W("coverage", ""),
    W("accuracy", ""),    W("rate", ""),     W("ratio", ""),
    W("utilization", ""), W("battery", ""),  W("increase", ""),
    W("decrease", ""),    W("faster", ""),   W("slower", ""),
    W("growth", ""),      W("discount", ""), W("chance", ""),
    W("probability", ""),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct word *find_word(const struct word *tab, size_t ntab,
                                    const char *w, size_t n)
{
    for (size_t i = 0; i < ntab; i++)
        if (tab[i].len == n && tab[i].w[0] == (w[0] | 0x20) &&
            strncasecmp(tab[i].w, w, n) == 0)
            return &tab[i];
    return NULL;
}

/* The run of letters that ends at end (after skipping spaces and a ':' or
 * '#' back from end); sets *b to its start, returns its length. */
static size_t word_before(const struct line *l, size_t end, size_t *b)
{
    size_t e = end;

    while (
        e > 0 &&
        (is_space(l->s[e - 1]) || l->s[e - 1] == ':' || l->s[e - 1] == '#') &&
        end - e < 4)
        e--;
    *b = e;
    while (*b > 0 && e - *b < 16 && is_alpha(l->s[*b - 1]))
        (*b)--;
    if (is_alpha(before(l, *b)))
        return 0; /* longer than any table word */
    return e - *b;
}

/* The run of letters after i and spaces (and a ':'); sets *b. */
static size_t word_after(const struct line *l, size_t i, size_t *b)
{
    size_t e;

    i = skip_spaces(l, i);
    *b = i;
    e = i;
    while (e < l->n && e - i < 16 && is_alpha(l->s[e]))
        e++;
    if (is_alpha(at(l, e)))
        return 0;
    return e - i;
}

static void set_unit(tl__progress_reading_t *r, const char *unit)
{
    size_t n = strnlen(unit, sizeof(r->unit) - 1);

    memcpy(r->unit, unit, n);
    r->unit[n] = '\0';
}

/* A unit name as tools print it ("it", "B", "files", "MB" after an SI
 * prefix is taken off) mapped to the unit of a reading; "" when unknown. */
static const char *unit_of(const char *w, size_t n)
{
    const struct word *u;

    if (n == 0 || n > 16)
        return "";
    if (n == 1 && w[0] == 'B')
        return "B";
    u = find_word(counter_words, COUNT(counter_words), w, n);
    if (u && u->unit[0])
        return u->unit;
    if (n > 1 && si_index((unsigned char)w[0]))
        return unit_of(w + 1, n - 1);
    return "";
}

/* ---- recognisers -------------------------------------------------------
 * Each takes a line and fills a reading that starts all NAN and "". */

/* A tqdm quantity: "45", "3.80G", "1.23k" (SI, powers of 1000). */
static size_t scan_tqdm_num(const struct line *l, size_t i, double *v)
{
    size_t j = scan_num(l, i, v);
    int k;

    if (j == i)
        return i;
    k = si_index(at(l, j));
    if (k > 0 && at(l, j) != 'K') {
        *v *= power(1000, k);
        j++;
    }
    return j;
}

/* The unit of a tqdm rate ("9.80it/s", "952MB/s", "?it/s", "1.23s/it")
 * in the bracket [from, to). */
static const char *tqdm_rate_unit(const struct line *l, size_t from, size_t to)
{
    const char *comma = memchr(l->s + from, ',', to - from);
    size_t i, u;
    double v;

    if (!comma)
        return "";
    i = skip_spaces(l, (size_t)(comma - l->s) + 1);
    if (at(l, i) == '?')
        i++;
    else
        i = scan_num(l, i, &v);
    if (has_prefix(l, i, "s/")) {
        i += 2;
        for (u = i; u < to && is_alpha(l->s[u]); u++)
            ;
        return unit_of(l->s + i, u - i);
    }
    for (u = i; u < to && is_alpha(l->s[u]); u++)
        ;
    if (!has_prefix(l, u, "/s"))
        return "";
    return unit_of(l->s + i, u - i);
}

/* " 45%|####5     | 45/100 [00:04<00:05,  9.80it/s]" */
static int tqdm_bar(const struct line *l, size_t pct, tl__progress_reading_t *r)
{
    const char *bar_end, *rb;
    size_t b, i, lb;
    double n, total;

    b = num_ending_at(l, pct, &r->percent);
    if (b == pct || (b > 0 && !is_space(l->s[b - 1])))
        return 0;
    bar_end = memchr(l->s + pct + 2, '|', l->n - pct - 2);
    if (!bar_end)
        return 0;
    i = skip_spaces(l, (size_t)(bar_end - l->s) + 1);
    lb = scan_tqdm_num(l, i, &n);
    if (lb == i || at(l, lb) != '/')
        return 1; /* "?/?" and the like: the percent is still good */
    i = lb + 1;
    lb = scan_tqdm_num(l, i, &total);
    if (lb == i || !has_prefix(l, lb, " ["))
        return 1;
    r->current = n;
    r->total = total;
    rb = memchr(l->s + lb, ']', l->n - lb);
    if (rb)
        set_unit(r, tqdm_rate_unit(l, lb, (size_t)(rb - l->s)));
    return 1;
}

/* "30it [00:00, 190.65it/s]", "3.85GB [00:00, 18.6GB/s]": tqdm without a
 * total. The bracket must open with an elapsed time, a comma and a rate,
 * which a log timestamp in brackets does not. */
static int tqdm_count(const struct line *l, tl__progress_reading_t *r)
{
    const char *p = l->s, *end = l->s + l->n;

    while ((p = memchr(p, '[', (size_t)(end - p))) != NULL) {
        size_t lb = (size_t)(p - l->s), i = lb + 1, tb, j, u;
        double v, n;
        int k;

        p++;
        if (lb < 2 || l->s[lb - 1] != ' ' || !is_digit(at(l, i)))
            continue;
        while (is_digit(at(l, i)))
            i++;
        if (at(l, i) != ':' || !is_digit(at(l, i + 1)))
            continue;
        while (is_digit(at(l, i)) || at(l, i) == ':')
            i++;
        if (at(l, i) != ',')
            continue;
        j = skip_spaces(l, i + 1);
        if (at(l, j) == '?')
            j++;
        else if ((i = scan_num(l, j, &v)) == j)
            continue;
        else
            j = i;
        while (is_alpha(at(l, j)))
            j++;
        if (at(l, j) != '/')
            continue;
        /* the count right before " [": "30it", "3.85GB", "1.2k" */
        for (tb = lb - 1; tb > 0 && !is_space(l->s[tb - 1]); tb--)
            ;
        j = scan_num(l, tb, &n);
        if (j == tb)
            continue;
        k = si_index(at(l, j));
        if (k && at(l, j) != 'K' &&
            (j + 1 == lb - 1 || is_alpha(at(l, j + 1)))) {
            n *= power(1000, k);
            j++;
        }
        for (u = j; u < lb - 1 && is_alpha(l->s[u]); u++)
            ;
        if (u != lb - 1)
            continue;
        r->current = n;
        set_unit(r, unit_of(l->s + j, u - j));
        return 1;
    }
    return 0;
}

static int rec_tqdm(const struct line *l, tl__progress_reading_t *r)
{
    const char *bar = l->has & F_PCT ? find2(l, '%', '|') : NULL;

    if (bar)
        return tqdm_bar(l, (size_t)(bar - l->s), r);
    return tqdm_count(l, r);
}

/* A curl size: "0", "1234", "123k", "18.1M", "8500M" (powers of 1024). */
static int curl_size(const struct line *l, size_t b, size_t e, double *v)
{
    size_t j = scan_num(l, b, v);
    int k;

    if (j == b)
        return 0;
    if (j + 1 == e && (k = si_index(l->s[j])) > 0 && k <= 5 && l->s[j] != 'K') {
        *v *= power(1024, k);
        j++;
    }
    return j == e;
}

static int curl_pct(const struct line *l, size_t b, size_t e, double *v)
{
    return scan_int(l, b, v) == e && *v <= 100;
}

/* "--:--:--", "0:02:43", or "2d" (the first half of "2d 03h"). */
static int curl_time(const struct line *l, size_t b, size_t e)
{
    size_t i = b;

    if (e - b == 8 && memcmp(l->s + b, "--:--:--", 8) == 0)
        return 1;
    while (i < e && is_digit(l->s[i]))
        i++;
    if (i == b)
        return 0;
    if (i + 1 == e && l->s[i] == 'd')
        return 1;
    return e - i == 6 && l->s[i] == ':' && is_digit(l->s[i + 1]) &&
           is_digit(l->s[i + 2]) && l->s[i + 3] == ':' &&
           is_digit(l->s[i + 4]) && is_digit(l->s[i + 5]);
}

/* "  45 8500M   45 3842M    0     0  52.1M      0  0:02:43  0:01:13 .."
 * % Total, Total, % Received, Received, % Xferd, Xferd, Dload, Upload,
 * then three times. A total of 0 means curl does not know it. */
static int rec_curl(const struct line *l, tl__progress_reading_t *r)
{
    double v[8]; /* the eight numbers, in order */
    size_t i = 0, b, e;

    for (int k = 0; k < 9; k++) { /* stop at the first field that is off */
        b = skip_spaces(l, i);
        e = skip_to_space(l, b);
        if (b == e)
            return 0;
        if (k == 8                       ? !curl_time(l, b, e)
            : k == 0 || k == 2 || k == 4 ? !curl_pct(l, b, e, &v[k])
                                         : !curl_size(l, b, e, &v[k]))
            return 0;
        i = e;
    }
    set_unit(r, "B");
    r->current = (v[3] > 0 || v[5] == 0) ? v[3] : v[5]; /* received, sent */
    if (v[1] > 0) {
        r->percent = v[0];
        r->total = v[1];
    }
    return 1;
}

/* "  3,842,000,000  45%   52.10MB/s    0:01:30 (xfr#11, to-chk=13/24)",
 * also per file, and "3.84G" with -h (powers of 1000). */
static int rec_rsync(const struct line *l, tl__progress_reading_t *r)
{
    size_t i = l->lead, j;
    double size, pct, rate, mult = 1;
    int k;

    j = scan_grouped(l, i, &size);
    if (j == i)
        return 0;
    if ((k = si_index(at(l, j))) > 0 && k <= 5) {
        size *= power(1000, k);
        j++;
    }
    if (!is_space(at(l, j)))
        return 0;
    i = skip_spaces(l, j);
    j = scan_int(l, i, &pct);
    if (j == i || at(l, j) != '%' || !is_space(at(l, j + 1)))
        return 0;
    i = skip_spaces(l, j + 1);
    j = scan_num(l, i, &rate);
    if (j == i)
        return 0;
    i = scan_byte_unit(l, j, 0, &mult);
    if (i == j || !has_prefix(l, i, "/s ") ||
        !is_digit(at(l, skip_spaces(l, i + 2))))
        return 0;
    i = skip_spaces(l, i + 2);
    j = skip_to_space(l, i);
    if (!curl_time(l, i, j))
        return 0;
    r->percent = pct;
    r->current = size;
    set_unit(r, "B");
    return 1;
}

/* A wget size: "0", "13.53M", "3.80G", "512K" (powers of 1024). */
static size_t scan_wget_size(const struct line *l, size_t i, double *v)
{
    size_t j = scan_num(l, i, v);
    int k;

    if (j == i)
        return i;
    if ((k = si_index(at(l, j))) > 0 && k <= 5 && at(l, j) != 'k') {
        *v *= power(1024, k);
        j++;
    }
    return j;
}

/* "file.iso   45%[=====>    ]   3.80G  52.1MB/s  eta 90s" */
static int rec_wget_bar(const struct line *l, tl__progress_reading_t *r)
{
    const char *m = find2(l, '%', '['), *rb;
    size_t pct, b, i, j;
    double size;

    if (!m)
        return 0;
    pct = (size_t)(m - l->s);
    b = num_ending_at(l, pct, &r->percent);
    if (b == pct || (b > 0 && !is_space(l->s[b - 1])))
        return 0;
    rb = memchr(m + 2, ']', (size_t)(l->s + l->n - m - 2));
    if (!rb)
        return 0;
    i = skip_spaces(l, (size_t)(rb - l->s) + 1);
    j = scan_wget_size(l, i, &size);
    if (j > i && (j == l->n || is_space(l->s[j]))) {
        r->current = size;
        set_unit(r, "B");
    }
    return 1;
}

/* A percentage ending at the '%' at pct: "45%", "45.2 %". Not glued to
 * what is before it, not "%d" or "%20" after. Returns its start or pct. */
static size_t pct_at(const struct line *l, size_t pct, double *v)
{
    size_t e = pct, b;
    int c;

    if (is_alnum(at(l, pct + 1)))
        return pct;
    if (e > 0 && l->s[e - 1] == ' ')
        e--;
    b = num_ending_at(l, e, v);
    if (b == e)
        return pct;
    c = before(l, b);
    if (is_alnum(c) || c == '.' || c == '+' || c == '-')
        return pct;
    return b;
}

/* "Receiving objects:  45% (450/1000), 3.80 MiB | 1.20 MiB/s" (git, git
 * lfs): a percentage followed by "(N/M)". */
static int rec_pct_counter(const struct line *l, tl__progress_reading_t *r)
{
    const char *p = l->s, *end = l->s + l->n;

    while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
        size_t pct = (size_t)(p - l->s), i, j;
        double v, n, m;

        p++;
        if (pct_at(l, pct, &v) == pct)
            continue;
        i = skip_spaces(l, pct + 1);
        if (at(l, i) != '(')
            continue;
        j = scan_int(l, i + 1, &n);
        if (j == i + 1 || at(l, j) != '/')
            continue;
        i = j + 1;
        j = scan_int(l, i, &m);
        if (j == i || at(l, j) != ')')
            continue;
        r->percent = v;
        r->current = n;
        r->total = m;
        return 1;
    }
    return 0;
}

/* "3842000000 bytes (3.8 GB, 3.6 GiB) copied, 73 s, 52.6 MB/s" (GNU dd),
 * "314572800 bytes transferred in 4.9 secs" (BSD dd). */
static int rec_dd(const struct line *l, tl__progress_reading_t *r)
{
    size_t i = l->lead, j;
    double n;

    j = scan_int(l, i, &n);
    if (j == i || !has_prefix(l, j, " byte"))
        return 0;
    j += 5;
    if (at(l, j) == 's')
        j++;
    j = skip_spaces(l, j);
    if (at(l, j) == '(') {
        const char *rp = memchr(l->s + j, ')', l->n - j);
        if (!rp)
            return 0;
        j = skip_spaces(l, (size_t)(rp - l->s) + 1);
    }
    if (!has_prefix(l, j, "copied") && !has_prefix(l, j, "transferred"))
        return 0;
    r->current = n;
    set_unit(r, "B");
    return 1;
}

/* The size ending at end: "3.842MB" (unit glued), "3.8 MB" when
 * spaced is set, or "3.8" (mult 0: no unit). Returns 1 when found. */
static int size_ending_at(const struct line *l, size_t end, int spaced,
                          double *v, double *mult)
{
    size_t u = end, b, ne;
    int c;

    while (u > 0 && end - u < 4 && is_alpha(l->s[u - 1]))
        u--;
    *mult = 0;
    ne = u;
    if (u < end) {
        if (scan_byte_unit(l, u, 0, mult) != end)
            return 0;
        if (spaced && u > 0 && l->s[u - 1] == ' ')
            ne = u - 1;
    }
    b = num_ending_at(l, ne, v);
    if (b == ne)
        return 0;
    c = before(l, b);
    return !(is_alnum(c) || c == '.' || c == '/' || c == ',' || c == '-');
}

/* A size starting at i: a number, then a byte unit glued or after one
 * space; not a rate ("52.1 MB/s"). Sets *mult 0 when there is no unit. */
static size_t size_at(const struct line *l, size_t i, double *v, double *mult)
{
    size_t j = scan_num(l, i, v), u, k;

    *mult = 0;
    if (j == i)
        return i;
    u = at(l, j) == ' ' ? j + 1 : j;
    k = scan_byte_unit(l, u, 0, mult);
    if (k == u) {
        *mult = 0;
        return is_alnum(at(l, j)) || at(l, j) == '/' ? i : j;
    }
    if (at(l, k) == '/' || is_digit(at(l, k)))
        return i;
    return k;
}

/* Checks one separator of a size pair: the current ends at le, the total
 * starts at rs. spaced_left allows "3.8 MB of". */
static int size_pair_at(const struct line *l, size_t le, size_t rs,
                        int spaced_left, tl__progress_reading_t *r)
{
    double c, t, mc, mt;

    if (!size_ending_at(l, le, spaced_left, &c, &mc))
        return 0;
    if (size_at(l, rs, &t, &mt) == rs || mt == 0)
        return 0;
    r->current = c * (mc > 0 ? mc : mt);
    r->total = t * mt;
    set_unit(r, "B");
    return r->total > 0 && r->current <= r->total;
}

/* "3.842MB/8.5MB" (docker), "3.8/8.5 MB" (pip), "3.84MB / 8.50MB"
 * (buildkit), "3.8 MB of 8.5 MB". */
static int rec_size_pair(const struct line *l, tl__progress_reading_t *r)
{
    const char *p = l->s, *end = l->s + l->n;

    if (l->has & F_SLASH) {
        while ((p = memchr(p, '/', (size_t)(end - p))) != NULL) {
            size_t k = (size_t)(p - l->s);

            p++;
            if (is_digit(at(l, k + 1)) && size_pair_at(l, k, k + 1, 0, r))
                return 1;
            if (before(l, k) == ' ' && at(l, k + 1) == ' ' &&
                is_digit(at(l, k + 2)) && is_alpha(before(l, k - 1)) &&
                size_pair_at(l, k - 1, k + 2, 0, r))
                return 1;
        }
    }
    if (l->has & F_OF) {
        p = l->s;
        while ((p = memmem(p, (size_t)(end - p), " of ", 4)) != NULL) {
            size_t k = (size_t)(p - l->s);

            p++;
            if (is_digit(at(l, k + 4)) && size_pair_at(l, k, k + 4, 1, r))
                return 1;
        }
    }
    r->current = r->total = NAN;
    r->unit[0] = '\0';
    return 0;
}

/* "45% [Working]", "0% [Connecting to deb.debian.org]" (apt acquire). */
static int rec_apt(const struct line *l, tl__progress_reading_t *r)
{
    size_t j = scan_num(l, 0, &r->percent);

    return j > 0 && has_prefix(l, j, "% [");
}

/* "[ 45%]", "[45%]", "[100%]": the last one in the line. */
static int rec_bracket_pct(const struct line *l, tl__progress_reading_t *r)
{
    const char *p = l->s, *end = l->s + l->n;
    int found = 0;

    while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
        size_t pct = (size_t)(p - l->s), b, o;
        double v;

        p++;
        if (at(l, pct + 1) != ']')
            continue;
        b = num_ending_at(l, pct, &v);
        if (b == pct)
            continue;
        for (o = b; o > 0 && l->s[o - 1] == ' ' && b - o < 3; o--)
            ;
        if (before(l, o) != '[')
            continue;
        r->percent = v;
        found = 1;
    }
    return found;
}

/* The generic rule (see progress.h): the line's only percentage, in a
 * line of few words. */
static int rec_plain_pct(const struct line *l, tl__progress_reading_t *r)
{
    const char *p = l->s, *end = l->s + l->n;
    unsigned pcts = 0, words = 0, prog = 0;
    size_t i = 0;
    double v = NAN;

    while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
        size_t k = (size_t)(p++ - l->s);
        double x;

        if (pct_at(l, k, &x) == k)
            continue;
        if (++pcts > 1 || at(l, skip_spaces(l, k + 1)) == '/')
            return 0; /* df: "79G  18% /" is a table column */
        v = x;
    }
    if (pcts != 1)
        return 0;
    while (i < l->n) {
        int c = (unsigned char)l->s[i];
        size_t j;

        if (is_digit(c)) {
            while (i < l->n && (is_alnum(l->s[i]) || l->s[i] == '.'))
                i++; /* "80.0MiB": letters glued to a number are no word */
        } else if (is_alpha(c)) {
            for (j = i; j < l->n && is_alpha(l->s[j]); j++)
                ;
            if (j - i >= 2) {
                if (find_word(stop_words, COUNT(stop_words), l->s + i, j - i))
                    return 0;
                if (find_word(progress_words, COUNT(progress_words), l->s + i,
                              j - i))
                    prog = 1;
                if (++words > 6)
                    return 0;
            }
            while (j < l->n && is_alnum(l->s[j]))
                j++; /* "sha256sum" */
            i = j;
        } else {
            i++;
        }
    }
    if (words > 3 && !prog)
        return 0;
    r->percent = v;
    return 1;
}

/* Does the counter whose digits span [b, e) sit in a counter shape?
 * Sets *unit from a counter word next to it. */
static int counter_shape(const struct line *l, size_t b, size_t e, int slash,
                         const char **unit)
{
    const struct word *w;
    size_t wb, wn, i;
    int c0 = before(l, b), c1 = at(l, e);

    *unit = "";
    wn = word_before(l, b, &wb);
    w = wn ? find_word(counter_words, COUNT(counter_words), l->s + wb, wn)
           : NULL;
    if (!w || !w->unit[0]) { /* "Downloaded 3/10 files": the unit wins */
        const struct word *w2;
        wn = word_after(l, e, &wb);
        w2 = wn ? find_word(counter_words, COUNT(counter_words), l->s + wb, wn)
                : NULL;
        if (w2)
            w = w2;
    }
    if (w) {
        *unit = w->unit;
        return 1;
    }
    if (!slash)
        return 0;
    if (((c0 == '[' && c1 == ']') || (c0 == '(' && c1 == ')')) &&
        !is_alnum(before(l, b - 1)))
        return 1; /* "[3/10]", not the index in "worker[3/8]" */
    for (i = b; i > 0 && is_space(l->s[i - 1]); i--)
        ;
    if (i > 0 && i < b && (l->s[i - 1] == ']' || l->s[i - 1] == '|'))
        return 1; /* cargo "Building [===>  ] 45/100: serde" */
    i = skip_spaces(l, e);
    if (i > e && at(l, i) == '[' &&
        (is_bar(at(l, i + 1)) ||
         (is_digit(at(l, i + 1)) &&
          (at(l, i + 2) == ':' || at(l, i + 3) == ':'))))
        return 1; /* keras "45/100 [===>...] - ETA: 3s", "5/8 [00:02<" */
    return l->lead == b && i == l->n;
}

/* The counter "N/M" or "N of M" whose separator spans [sb, se). */
static int counter_at(const struct line *l, size_t sb, size_t se, int slash,
                      tl__progress_reading_t *r)
{
    size_t b = sb, e;
    double n, m;
    int c0, c1;
    const char *unit;

    while (b > 0 && is_digit(l->s[b - 1]) && sb - b <= MAX_DIGITS)
        b--;
    e = scan_int(l, se, &m);
    if (b == sb || e == se || scan_int(l, b, &n) != sb)
        return 0;
    if ((l->s[b] == '0' && sb - b > 1) || (l->s[se] == '0' && e - se > 1))
        return 0; /* "03/04": a date */
    c0 = before(l, b);
    c1 = at(l, e);
    if (is_alnum(c0) || c0 == '.' || c0 == '/' || c0 == ':' || c0 == '=' ||
        c0 == ',' || c0 == '-' || c0 == '_')
        return 0;
    if (is_alnum(c1) || c1 == '/' || c1 == '%' || c1 == '=' || c1 == '-' ||
        c1 == '_' || c1 == '\\')
        return 0;
    if ((c1 == '.' || c1 == ':') && is_alnum(at(l, e + 1)))
        return 0; /* "1/2.5", "3/10:45" */
    if (m <= 0 || n > m)
        return 0;
    if (!counter_shape(l, b, e, slash, &unit))
        return 0;
    r->current = n;
    r->total = m;
    set_unit(r, unit);
    return 1;
}

/* "[3/10] Compiling foo.c", "Step 3/10", "11/24 layers", "task 50 of
 * 154", by the counter rule in progress.h. The first one that fits. */
static int rec_counter(const struct line *l, tl__progress_reading_t *r)
{
    const char *p, *end = l->s + l->n;

    if (l->has & F_SLASH)
        for (p = l->s; (p = memchr(p, '/', (size_t)(end - p))) != NULL; p++)
            if (counter_at(l, (size_t)(p - l->s), (size_t)(p - l->s) + 1, 1, r))
                return 1;
    if (l->has & F_OF)
        for (p = l->s; (p = memmem(p, (size_t)(end - p), " of ", 4)) != NULL;
             p++) {
            size_t k = (size_t)(p - l->s);
            if (k >= 4 && strncasecmp(p - 4, " out", 4) == 0 &&
                counter_at(l, k - 4, k + 4, 0, r))
                return 1;
            if (counter_at(l, k, k + 4, 0, r))
                return 1;
        }
    return 0;
}

static const struct recogniser {
    const char *name;
    unsigned needs; /* every F_* bit here must be in the line */
    int (*fn)(const struct line *, tl__progress_reading_t *);
} recognisers[] = {
    {"tqdm", F_DIGIT | F_BRACKET, rec_tqdm},
    {"curl meter", F_DIGIT, rec_curl},
    {"rsync", F_PCT | F_COLON, rec_rsync},
    {"wget bar", F_PCT | F_BRACKET, rec_wget_bar},
    {"git", F_PCT | F_SLASH, rec_pct_counter},
    {"dd", F_DIGIT, rec_dd},
    {"size pair", F_DIGIT | F_SEP, rec_size_pair},
    {"apt acquire", F_PCT | F_BRACKET, rec_apt},
    {"bracketed percent", F_PCT | F_BRACKET, rec_bracket_pct},
    {"percent", F_PCT, rec_plain_pct},
    {"counter", F_DIGIT | F_SEP, rec_counter},
};

/* ---- the line --------------------------------------------------------- */

/* Copies s without terminal escapes into buf (as large as s). Colours go
 * away; a cursor move or erase becomes a space, since it separates what
 * the terminal shows. */
static size_t strip_escapes(const char *s, size_t n, char *buf)
{
    size_t i = 0, o = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];

        if (c != 0x1b) {
            buf[o++] = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= n)
            break;
        c = (unsigned char)s[i + 1];
        if (c == '[') { /* CSI: parameters, intermediates, final byte */
            size_t j = i + 2;
            while (j < n && s[j] >= 0x30 && s[j] <= 0x3f)
                j++;
            while (j < n && s[j] >= 0x20 && s[j] <= 0x2f)
                j++;
            if (j < n && s[j] != 'm')
                buf[o++] = ' ';
            i = j < n ? j + 1 : n;
        } else if (c == ']') { /* OSC: up to BEL or ESC '\' */
            size_t j = i + 2;
            while (j < n && s[j] != 0x07 && s[j] != 0x1b)
                j++;
            i = j < n && s[j] == 0x1b ? j + 2 : j + 1;
        } else if (c >= 0x20 && c <= 0x2f) { /* "ESC ( B" */
            i += 3;
        } else { /* "ESC 7", "ESC 8", ... */
            buf[o++] = ' ';
            i += 2;
        }
    }
    return o;
}

static void reading_init(tl__progress_reading_t *r)
{
    r->percent = r->current = r->total = NAN;
    r->unit[0] = '\0';
}

/* The checks every reading passes; fills in the percent from a count. */
static int finish(tl__progress_reading_t *r)
{
    if (!isnan(r->current) && (!isfinite(r->current) || r->current < 0))
        return 0;
    if (!isnan(r->total) && (!isfinite(r->total) || r->total <= 0))
        return 0;
    if (!isnan(r->current) && !isnan(r->total) && r->current > r->total)
        return 0;
    if (isnan(r->percent) && !isnan(r->current) && !isnan(r->total))
        r->percent = 100 * r->current / r->total;
    if (!isnan(r->percent) && !(r->percent >= 0 && r->percent <= 100))
        return 0;
    return !isnan(r->percent) || !isnan(r->current);
}

/* The F_* bits of the characters in s: the one pass every line gets,
 * unrolled since it is most of the cost of an ordinary line. */
static unsigned classify(const unsigned char *s, size_t n)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        a |= char_has[s[i]];
        b |= char_has[s[i + 1]];
        c |= char_has[s[i + 2]];
        d |= char_has[s[i + 3]];
    }
    for (; i < n; i++)
        a |= char_has[s[i]];
    return a | b | c | d;
}

/* Does the line have " of " followed by a digit, as counters and size
 * pairs need? memchr on 'o' beats memmem on lines this short. */
static int has_of(const struct line *l)
{
    const char *p = l->s + 1, *end = l->s + l->n;

    while (end - p >= 4 &&
           (p = memchr(p, 'o', (size_t)(end - p - 3))) != NULL) {
        if (p[-1] == ' ' && p[1] == 'f' && p[2] == ' ' && is_digit(p[3]))
            return 1;
        p++;
    }
    return 0;
}

/* Sets up l over line, without escapes (into buf) when it has any. */
static int line_init(struct line *l, const char *line, size_t len, char *buf)
{
    unsigned has = 0;

    if (!line || len > TL__PROGRESS_MAX_LINE)
        return 0;
    l->s = line;
    l->n = len;
    if (memchr(line, 0x1b, len)) {
        l->n = strip_escapes(line, len, buf);
        l->s = buf;
    }
    has = classify((const unsigned char *)l->s, l->n);
    l->lead = skip_spaces(l, 0);
    if ((has & F_DIGIT) && has_of(l))
        has |= F_OF;
    if (has & (F_SLASH | F_OF))
        has |= F_SEP;
    l->has = has;
    return 1;
}

int tl__progress_parse(const char *line, size_t len,
                       tl__progress_reading_t *out)
{
    char buf[TL__PROGRESS_MAX_LINE];
    struct line l;

    if (!line_init(&l, line, len, buf))
        return 0;
    for (size_t i = 0; i < COUNT(recognisers); i++) {
        const struct recogniser *rec = &recognisers[i];
        tl__progress_reading_t r;

        if ((l.has & rec->needs) != rec->needs)
            continue;
        reading_init(&r);
        if (rec->fn(&l, &r) && finish(&r)) {
            *out = r;
            return 1;
        }
    }
    return 0;
}

/* ---- user patterns ---------------------------------------------------- */

struct tl__progress_re {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int percent, current, total; /* group numbers; 0 when absent */
};

static int group_named(pcre2_code *code, const char *name)
{
    int n = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name);

    return n > 0 ? n : 0;
}

int tl__progress_re_compile(const char *pattern, tl__progress_re_t **out,
                            char *err, size_t errlen)
{
    tl__progress_re_t *re = NULL;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off;
    uint32_t ncap = 0, opts = 0;
    int code, rc = TL_EINVAL;

    if (err && errlen)
        err[0] = '\0';
    if (!pattern || !out) {
        if (err)
            snprintf(err, errlen, "no pattern");
        return TL_EINVAL;
    }
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    re = calloc(1, sizeof(*re));
    if (!re)
        goto nomem;
    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts,
                             &code, &off, NULL);
    if (!re->code) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        if (err)
            snprintf(err, errlen, "bad pattern at offset %zu: %s", (size_t)off,
                     (const char *)msg);
        goto out;
    }
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* optional */
    re->percent = group_named(re->code, "percent");
    re->current = group_named(re->code, "current");
    re->total = group_named(re->code, "total");
    if (!re->percent && !re->current && !re->total) {
        pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &ncap);
        if (ncap == 1) {
            re->percent = 1;
        } else if (ncap >= 2) {
            re->current = 1;
            re->total = 2;
        } else {
            if (err)
                snprintf(err, errlen, "pattern has no capture group");
            goto out;
        }
    }
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->md || !re->mctx)
        goto nomem;
    pcre2_set_match_limit(re->mctx, RE_MATCH_LIMIT);
    *out = re;
    return 0;
nomem:
    rc = TL_ENOMEM;
    if (err)
        snprintf(err, errlen, "out of memory");
out:
    tl__progress_re_free(re);
    return rc;
}

/* A group's text: "45.2", "45.2%", "3,842,000", "3.8 MB", "3.80G". Sets
 * *bytes when it had a byte unit. NAN when it holds no number. */
static double quantity(const char *s, size_t n, int *bytes)
{
    struct line l = {s, n, 0, 0};
    size_t i = skip_spaces(&l, 0), j, u, k;
    double v, mult;

    j = scan_grouped(&l, i, &v);
    if (j == i)
        return NAN;
    u = at(&l, j) == ' ' ? j + 1 : j;
    k = scan_byte_unit(&l, u, 0, &mult);
    if (k > u) {
        *bytes = 1;
        return v * mult;
    }
    k = scan_byte_unit(&l, j, 1000, &mult);
    return k > j ? v * mult : v;
}

static double group_value(const tl__progress_re_t *re, const char *s, int group,
                          int *bytes)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);

    if (group <= 0 || ov[2 * group] == PCRE2_UNSET)
        return NAN;
    return quantity(s + ov[2 * group], ov[2 * group + 1] - ov[2 * group],
                    bytes);
}

int tl__progress_re_match(const tl__progress_re_t *re, const char *line,
                          size_t len, tl__progress_reading_t *out)
{
    char buf[TL__PROGRESS_MAX_LINE];
    tl__progress_reading_t r;
    struct line l;
    int rc, bytes = 0;

    if (!re || !line_init(&l, line, len, buf))
        return 0;
    rc = pcre2_match(re->code, (PCRE2_SPTR)l.s, l.n, 0, 0, re->md, re->mctx);
    if (rc <= 0)
        return 0;
    reading_init(&r);
    r.percent = group_value(re, l.s, re->percent, &bytes);
    r.current = group_value(re, l.s, re->current, &bytes);
    r.total = group_value(re, l.s, re->total, &bytes);
    if (bytes)
        set_unit(&r, "B");
    if (!finish(&r))
        return 0;
    *out = r;
    return 1;
}

void tl__progress_re_free(tl__progress_re_t *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}
