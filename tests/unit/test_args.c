/*
 * test_args.c -- unit tests of the tl command's pure parsers (src/tl/args.c):
 * durations, integers, ids, priorities, shell quoting, elapsed times, text
 * fitting, progress bars, table layout, the reporters' numbers and
 * KEY=VALUE, and the incremental SSE parser, good inputs and bad.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"

/* ---- durations -------------------------------------------------------- */

static void check_duration(const char *s, double want)
{
    double got = -1;

    if (args_parse_duration(s, &got) != 0)
        fail_msg("duration '%s' was rejected", s);
    if (fabs(got - want) > 1e-9)
        fail_msg("duration '%s': got %g, want %g", s, got, want);
}

static void check_bad_duration(const char *s)
{
    double got = 42;

    if (args_parse_duration(s, &got) != -1)
        fail_msg("duration '%s' was accepted as %g", s ? s : "(null)", got);
    assert_true(got == 42); /* untouched */
}

static void test_duration_good(void **state)
{
    check_duration("30", 30);
    check_duration("0", 0);
    check_duration("30s", 30);
    check_duration("1.5m", 90);
    check_duration("5m", 300);
    check_duration("2h", 7200);
    check_duration("1d", 86400);
    check_duration("500ms", 0.5);
    check_duration("0.25", 0.25);
    check_duration(".5s", 0.5);
    check_duration("5.", 5);
    check_duration("1h30m", 5400);
    check_duration("1m30s500ms", 90.5);
    check_duration("007s", 7);
}

static void test_duration_bad(void **state)
{
    static const char *const bad[] = {
        "",     "-5",   "+5",  "-1s",   " 5",   "5 ",   "5 s",   "abc",  "s",
        "5x",   "5S",   "nan", "NaN",   "inf",  "1e3",  "1e400", "0x10", "5s5",
        "1h30", "5..5", ".",   "5.5.5", "1,5m", "5mss", "ms",    "5sm!", "\t5",
    };
    size_t i;

    check_bad_duration(NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_bad_duration(bad[i]);
}

static void test_duration_huge(void **state)
{
    char big[400];
    double got;

    /* numbers are capped at 63 characters, so no input reaches inf */
    memset(big, '9', 70);
    big[70] = '\0';
    assert_int_equal(args_parse_duration(big, &got), -1);
    memset(big, '9', 62);
    strcpy(big + 62, "d");
    assert_int_equal(args_parse_duration(big, &got), 0);
    assert_true(isfinite(got));
}

/* ---- integers, ids, priorities ---------------------------------------- */

static void test_int(void **state)
{
    int64_t v = 0;

    assert_int_equal(args_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(args_parse_int("-7", -10, 10, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(args_parse_int("+7", -10, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(args_parse_int("9223372036854775807", 0, INT64_MAX, &v),
                     0);
    assert_true(v == INT64_MAX);
    assert_int_equal(args_parse_int("-9223372036854775808", INT64_MIN, 0, &v),
                     0);
    assert_true(v == INT64_MIN);

    v = 5;
    assert_int_equal(args_parse_int("101", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("-1", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("9223372036854775808", 0, INT64_MAX, &v),
                     -1);
    assert_int_equal(args_parse_int("", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("-", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("+", 0, 100, &v), -1);
    assert_int_equal(args_parse_int(" 1", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("1 ", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("- 1", -5, 100, &v), -1);
    assert_int_equal(args_parse_int("12a", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("0x10", 0, 100, &v), -1);
    assert_int_equal(args_parse_int("1.0", 0, 100, &v), -1);
    assert_int_equal(args_parse_int(NULL, 0, 100, &v), -1);
    assert_int_equal(v, 5);
}

static void test_id(void **state)
{
    int64_t v = 0;

    assert_int_equal(args_parse_id("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(args_parse_id("123456789", &v), 0);
    assert_int_equal(v, 123456789);
    assert_int_equal(args_parse_id("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);

    v = 3;
    assert_int_equal(args_parse_id("0", &v), -1);
    assert_int_equal(args_parse_id("-1", &v), -1);
    assert_int_equal(args_parse_id("+1", &v), -1);
    assert_int_equal(args_parse_id("", &v), -1);
    assert_int_equal(args_parse_id("7x", &v), -1);
    assert_int_equal(args_parse_id("#7", &v), -1);
    assert_int_equal(args_parse_id(" 7", &v), -1);
    assert_int_equal(args_parse_id("99999999999999999999", &v), -1);
    assert_int_equal(args_parse_id(NULL, &v), -1);
    assert_int_equal(v, 3);
}

static void test_priority(void **state)
{
    int64_t v = 99;

    assert_int_equal(args_parse_priority("low", &v), 0);
    assert_int_equal(v, -10);
    assert_int_equal(args_parse_priority("normal", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(args_parse_priority("high", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(args_parse_priority("HIGH", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(args_parse_priority("5", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(args_parse_priority("-3", &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(args_parse_priority("1000000000", &v), 0);
    assert_int_equal(v, 1000000000);

    v = 99;
    assert_int_equal(args_parse_priority("urgent", &v), -1);
    assert_int_equal(args_parse_priority("", &v), -1);
    assert_int_equal(args_parse_priority("highest", &v), -1);
    assert_int_equal(args_parse_priority("1000000001", &v), -1);
    assert_int_equal(args_parse_priority("-1000000001", &v), -1);
    assert_int_equal(args_parse_priority("1.5", &v), -1);
    assert_int_equal(args_parse_priority(NULL, &v), -1);
    assert_int_equal(v, 99);
}

/* ---- shell quoting ---------------------------------------------------- */

static void check_quote(const char *in, const char *want)
{
    char *got = args_shell_quote(in);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_shell_quote(void **state)
{
    check_quote("sleep", "sleep");
    check_quote("/usr/bin/env", "/usr/bin/env");
    check_quote("a=b,c:d@e%f+g", "a=b,c:d@e%f+g");
    check_quote("", "''");
    check_quote("a b", "'a b'");
    check_quote("it's", "'it'\\''s'");
    check_quote("$HOME", "'$HOME'");
    check_quote("~", "'~'");
    check_quote("*", "'*'");
    check_quote("caf\xC3\xA9", "'caf\xC3\xA9'");
    check_quote("a\nb", "$'a\\nb'");
    check_quote("\tx'\\", "$'\\tx\\'\\\\'");
    check_quote("\x1B[31mred", "$'\\x1b[31mred'");
    check_quote("bad\xFFutf8", "$'bad\\xffutf8'");
    check_quote("\xC2\x9B"
                "c1",
                "$'\\xc2\\x9bc1'"); /* C1 CSI */
}

static void test_shell_join(void **state)
{
    const char *argv[] = {"sh", "-c", "echo 'hi there'", ""};
    char *got;

    got = args_shell_join(argv, 4);
    assert_non_null(got);
    assert_string_equal(got, "sh -c 'echo '\\''hi there'\\''' ''");
    free(got);

    got = args_shell_join(argv, 0);
    assert_non_null(got);
    assert_string_equal(got, "");
    free(got);

    got = args_shell_join(argv, 1);
    assert_non_null(got);
    assert_string_equal(got, "sh");
    free(got);
}

/* ---- elapsed and text fitting ----------------------------------------- */

static void check_elapsed(double s, const char *want)
{
    char buf[32];

    args_format_elapsed(s, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_elapsed(void **state)
{
    check_elapsed(0, "0s");
    check_elapsed(0.4, "0s");
    check_elapsed(59.9, "59s");
    check_elapsed(60, "1m 0s");
    check_elapsed(200, "3m 20s");
    check_elapsed(3600, "1h 0m");
    check_elapsed(7384, "2h 3m");
    check_elapsed(90000, "1d 1h");
    check_elapsed(-1, "-");
    check_elapsed(NAN, "-");
    check_elapsed(INFINITY, "-");
    check_elapsed(1e300, "-");
}

static void check_fit(const char *s, size_t width, const char *want,
                      size_t want_cols)
{
    char buf[64];
    size_t cols = args_fit_text(s, width, buf, sizeof(buf));

    assert_string_equal(buf, want);
    assert_int_equal(cols, want_cols);
}

static void test_fit_text(void **state)
{
    char small[6];

    check_fit("hello", 10, "hello", 5);
    check_fit("hello", 5, "hello", 5);
    check_fit("hello", 4, "hel\xE2\x80\xA6", 4);
    check_fit("hello", 1, "\xE2\x80\xA6", 1);
    check_fit("hello", 0, "", 0);
    check_fit("", 5, "", 0);
    check_fit("caf\xC3\xA9!", 5, "caf\xC3\xA9!", 5);
    check_fit("caf\xC3\xA9!!", 5, "caf\xC3\xA9\xE2\x80\xA6", 5);
    check_fit("a\x1B[2Jb", 10, "a?[2Jb", 6);
    check_fit("a\nb\tc", 10, "a?b?c", 5);
    check_fit("x\xFF\xFEy", 10, "x??y", 4);
    check_fit("\xE2\x80", 10, "??", 2);      /* truncated sequence */
    check_fit("\xED\xA0\x80", 10, "???", 3); /* a surrogate */
    check_fit("\xC0\xAF", 10, "??", 2);      /* overlong '/' */

    assert_int_equal(args_text_width("hello"), 5);
    assert_int_equal(args_text_width("caf\xC3\xA9"), 4);
    assert_int_equal(args_text_width("\x01\x02"), 2);

    /* a short buffer cuts the text and never overflows */
    args_fit_text("abcdefgh", 100, small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    assert_int_equal(args_fit_text("abc", 3, small, 0), 0);
}

/* ---- reporters' numbers ------------------------------------------------ */

static void test_numbers(void **state)
{
    double d = -1, c = -1, t = -1;

    assert_int_equal(args_parse_number("45", 0, 100, &d), 0);
    assert_true(d == 45);
    assert_int_equal(args_parse_number("2.5", 0, 100, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(args_parse_number(".5", 0, 100, &d), 0);
    assert_true(d == 0.5);
    d = 7;
    assert_int_equal(args_parse_number("101", 0, 100, &d), -1);
    assert_int_equal(args_parse_number("-1", 0, 100, &d), -1);
    assert_int_equal(args_parse_number("1e2", 0, 100, &d), -1);
    assert_int_equal(args_parse_number("", 0, 100, &d), -1);
    assert_int_equal(args_parse_number("nan", 0, 100, &d), -1);
    assert_int_equal(args_parse_number(" 1", 0, 100, &d), -1);
    assert_int_equal(args_parse_number(NULL, 0, 100, &d), -1);
    assert_true(d == 7);

    assert_int_equal(args_parse_percent("45", &d), 0);
    assert_true(d == 45);
    assert_int_equal(args_parse_percent("45.5%", &d), 0);
    assert_true(d == 45.5);
    assert_int_equal(args_parse_percent("100%", &d), 0);
    assert_true(d == 100);
    assert_int_equal(args_parse_percent("0", &d), 0);
    assert_true(d == 0);
    d = 7;
    assert_int_equal(args_parse_percent("%", &d), -1);
    assert_int_equal(args_parse_percent("100.1", &d), -1);
    assert_int_equal(args_parse_percent("45%%", &d), -1);
    assert_int_equal(args_parse_percent("50/154", &d), -1);
    assert_true(d == 7);

    assert_int_equal(args_parse_fraction("50/154", &c, &t), 0);
    assert_true(c == 50 && t == 154);
    assert_int_equal(args_parse_fraction("0/1", &c, &t), 0);
    assert_true(c == 0 && t == 1);
    c = t = 7;
    assert_int_equal(args_parse_fraction("5/4", &c, &t), -1);
    assert_int_equal(args_parse_fraction("1/0", &c, &t), -1);
    assert_int_equal(args_parse_fraction("/4", &c, &t), -1);
    assert_int_equal(args_parse_fraction("4/", &c, &t), -1);
    assert_int_equal(args_parse_fraction("45", &c, &t), -1);
    assert_int_equal(args_parse_fraction("1/2/3", &c, &t), -1);
    assert_true(c == 7 && t == 7);
}

static void test_split_kv(void **state)
{
    assert_int_equal(args_split_kv("a=1"), 1);
    assert_int_equal(args_split_kv("image=win:latest"), 5);
    assert_int_equal(args_split_kv("k="), 1);
    assert_int_equal(args_split_kv("k=a=b"), 1);
    assert_int_equal(args_split_kv("=1"), -1);
    assert_int_equal(args_split_kv("novalue"), -1);
    assert_int_equal(args_split_kv(""), -1);
    assert_int_equal(args_split_kv(NULL), -1);
}

static void check_utf8_fix(const char *in, size_t len, const char *want)
{
    size_t n = 99;
    char *got = args_utf8_fix(in, len, &n);

    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(got);
}

static void test_utf8_fix(void **state)
{
    check_utf8_fix("hello", 5, "hello");
    check_utf8_fix("", 0, "");
    check_utf8_fix("caf\xC3\xA9", 5, "caf\xC3\xA9");
    check_utf8_fix("a\xFFz", 3, "a\xEF\xBF\xBDz");
    check_utf8_fix("a\0z", 3, "a\xEF\xBF\xBDz");
    /* a sequence cut by the length is not read past it */
    check_utf8_fix("\xC3\xA9", 1, "\xEF\xBF\xBD");
    check_utf8_fix("\xE2\x82\xAC!", 4, "\xE2\x82\xAC!");
    check_utf8_fix("\xED\xA0\x80", 3,
                   "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate */
}

/* ---- progress bars and layout ------------------------------------------ */

static void check_bar(double pct, size_t inner, int unicode, const char *want)
{
    char buf[64];
    size_t cols = args_format_bar(pct, inner, unicode, buf, sizeof(buf));

    assert_string_equal(buf, want);
    assert_int_equal(cols, inner + 2);
    assert_int_equal(args_text_width(buf), inner + 2);
}

static void test_bar(void **state)
{
    char tiny[8];

    check_bar(45, 10, 1,
              "\xE2\x96\x95\xE2\x96\x88\xE2\x96\x88\xE2\x96\x88\xE2\x96\x88"
              "\xE2\x96\x8C     \xE2\x96\x8F"); /* ▕████▌     ▏ */
    check_bar(0, 4, 1, "\xE2\x96\x95    \xE2\x96\x8F");
    check_bar(-1, 4, 1, "\xE2\x96\x95    \xE2\x96\x8F");
    check_bar(NAN, 4, 1, "\xE2\x96\x95    \xE2\x96\x8F");
    check_bar(100, 2, 1, "\xE2\x96\x95\xE2\x96\x88\xE2\x96\x88\xE2\x96\x8F");
    check_bar(250, 2, 1, "\xE2\x96\x95\xE2\x96\x88\xE2\x96\x88\xE2\x96\x8F");
    check_bar(1, 10, 1, "\xE2\x96\x95\xE2\x96\x8F         \xE2\x96\x8F");
    check_bar(45, 10, 0, "[#####     ]");
    check_bar(44, 10, 0, "[####      ]");
    check_bar(100, 10, 0, "[##########]");
    check_bar(-5, 3, 0, "[   ]");
    /* a buffer too small gives nothing, never an overflow */
    assert_int_equal(args_format_bar(50, 10, 1, tiny, sizeof(tiny)), 0);
    assert_string_equal(tiny, "");
}

static void test_fit_columns(void **state)
{
    /* id, title (shrinks), group (dropped 2nd), message (shrinks, 1st) */
    args_col_t c[4];
    size_t w;

#define COLS(tn, mn)                                                           \
    do {                                                                       \
        c[0] = (args_col_t){.natural = 3, .min = 3};                           \
        c[1] = (args_col_t){.natural = tn, .min = 10};                         \
        c[2] = (args_col_t){.natural = 7, .min = 7, .drop = 2};                \
        c[3] = (args_col_t){.natural = mn, .min = 10, .drop = 1};              \
    } while (0)

    COLS(20, 20);
    w = args_fit_columns(c, 4, 2, 100); /* all fits */
    assert_int_equal(w, 3 + 20 + 7 + 20 + 6);
    assert_int_equal(c[1].width, 20);
    assert_int_equal(c[3].width, 20);

    COLS(40, 20);
    w = args_fit_columns(c, 4, 2, 60); /* the widest shrinks first */
    assert_int_equal(w, 60);
    assert_int_equal(c[1].width, 24);
    assert_int_equal(c[3].width, 20);

    COLS(40, 40);
    w = args_fit_columns(c, 4, 2, 40); /* both shrink toward their min */
    assert_int_equal(c[1].width, 12);
    assert_int_equal(c[3].width, 12);
    assert_int_equal(w, 40);

    COLS(40, 40);
    w = args_fit_columns(c, 4, 2, 30); /* below the mins: the message goes */
    assert_int_equal(c[3].width, 0);
    assert_int_equal(c[2].width, 7);
    assert_int_equal(c[1].width, 16);
    assert_int_equal(w, 30);

    COLS(40, 40);
    w = args_fit_columns(c, 4, 2, 16); /* then the group; title at min */
    assert_int_equal(c[2].width, 0);
    assert_int_equal(c[3].width, 0);
    assert_int_equal(c[1].width, 11);
    assert_int_equal(w, 16);

    COLS(40, 40);
    w = args_fit_columns(c, 4, 2, 5); /* what cannot go stays */
    assert_int_equal(c[0].width, 3);
    assert_int_equal(c[1].width, 10);
    assert_int_equal(w, 15);

    COLS(4, 4); /* min above natural: natural wins */
    w = args_fit_columns(c, 4, 2, 100);
    assert_int_equal(c[1].width, 4);
    assert_int_equal(w, 3 + 4 + 7 + 4 + 6);
#undef COLS
}

/* ---- SSE -------------------------------------------------------------- */

/* Feeds all of in, in chunks of step bytes; records events as
 * "event|id|data;" into out. Returns the last args_sse_next() result. */
static int feed(args_sse_t *p, const char *in, size_t step, char *out,
                size_t outsz)
{
    size_t total = strlen(in), off = 0, n, len;
    const char *buf;
    args_sse_event_t ev;
    int r = 0;

    out[0] = '\0';
    while (off < total) {
        n = total - off < step ? total - off : step;
        buf = in + off;
        len = n;
        while ((r = args_sse_next(p, &buf, &len, &ev)) == 1) {
            size_t o = strlen(out);
            snprintf(out + o, outsz - o, "%s|%s|%s;", ev.event, ev.id, ev.data);
            assert_int_equal(strlen(ev.data), ev.data_len);
        }
        if (r < 0)
            return r;
        assert_int_equal(len, 0);
        off += n;
    }
    return r;
}

static void check_sse(const char *in, const char *want)
{
    static const size_t steps[] = {1, 2, 3, 7, 1000};
    char out[1024];
    args_sse_t p;
    size_t i;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        args_sse_init(&p, 0);
        assert_int_equal(feed(&p, in, steps[i], out, sizeof(out)), 0);
        if (strcmp(out, want) != 0)
            fail_msg("chunks of %zu: got \"%s\", want \"%s\"", steps[i], out,
                     want);
        args_sse_free(&p);
    }
}

static void test_sse_basic(void **state)
{
    check_sse("id: 1\nevent: task.snapshot\ndata: {\"id\":7}\n\n",
              "task.snapshot|1|{\"id\":7};");
    /* two events; the id persists; an unnamed event is "message" */
    check_sse("id: 1\nevent: a\ndata: x\n\ndata: y\n\n", "a|1|x;message|1|y;");
    /* the event name does not persist */
    check_sse("event: a\ndata: 1\n\ndata: 2\n\n", "a||1;message||2;");
    /* multi-line data is joined with \n */
    check_sse("data: a\ndata: b\ndata\n\n", "message||a\nb\n;");
    /* no space after the colon; only one space is stripped */
    check_sse("data:x\n\ndata:  y\n\n", "message||x;message|| y;");
    /* an event with no data is not dispatched */
    check_sse("event: lonely\n\n\n\ndata: z\n\n", "message||z;");
    /* "data:" alone gives an event with empty data */
    check_sse("data:\n\n", "message||;");
}

static void test_sse_line_ends(void **state)
{
    check_sse("event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r", "a||1;b||2;");
    check_sse("data: 1\r\n\r\n\r\ndata: 2\n\n", "message||1;message||2;");
}

static void test_sse_comments_and_fields(void **state)
{
    check_sse(": ping\n\n: hello\ndata: a\n: mid\n\n", "message||a;");
    check_sse("retry: 1000\nfoo: bar\ndata: a\n\n", "message||a;");
    check_sse("\xEF\xBB\xBF"
              "data: bom\n\n",
              "message||bom;");
    /* an id then a new id; an id field without value clears it */
    check_sse("id: 5\ndata: a\n\nid\ndata: b\n\n", "message|5|a;message||b;");
    /* an incomplete event at the end is not dispatched */
    check_sse("data: done\n\ndata: partial\n", "message||done;");
}

static void test_sse_incremental_return(void **state)
{
    const char *in = "data: 1\n\ndata: 2\n\n";
    const char *buf = in;
    size_t len = strlen(in);
    args_sse_event_t ev;
    args_sse_t p;

    args_sse_init(&p, 0);
    assert_int_equal(args_sse_next(&p, &buf, &len, &ev), 1);
    assert_string_equal(ev.data, "1");
    assert_int_equal(len, strlen("data: 2\n\n")); /* the rest is left */
    assert_int_equal(args_sse_next(&p, &buf, &len, &ev), 1);
    assert_string_equal(ev.data, "2");
    assert_int_equal(args_sse_next(&p, &buf, &len, &ev), 0);
    assert_int_equal(len, 0);
    args_sse_free(&p);
    args_sse_free(&p); /* twice is fine */
}

static void test_sse_caps(void **state)
{
    char out[256], name[ARGS_SSE_NAME_MAX + 20];
    const char *buf;
    size_t len;
    args_sse_event_t ev;
    args_sse_t p;

    /* a line over the cap */
    args_sse_init(&p, 16);
    assert_int_equal(
        feed(&p, "data: 0123456789abcdef\n\n", 4, out, sizeof(out)), -1);
    /* sticky */
    buf = "data: x\n\n";
    len = strlen(buf);
    assert_int_equal(args_sse_next(&p, &buf, &len, &ev), -1);
    args_sse_free(&p);

    /* data over the cap across lines */
    args_sse_init(&p, 16);
    assert_int_equal(feed(&p, "data: 12345\ndata: 12345\ndata: 12345\n\n", 5,
                          out, sizeof(out)),
                     -1);
    args_sse_free(&p);

    /* within the cap */
    args_sse_init(&p, 16);
    assert_int_equal(
        feed(&p, "data: 12345\ndata: 1234\n\n", 5, out, sizeof(out)), 0);
    assert_string_equal(out, "message||12345\n1234;");
    args_sse_free(&p);

    /* an event name over ARGS_SSE_NAME_MAX */
    args_sse_init(&p, 0);
    memcpy(name, "event: ", 7);
    memset(name + 7, 'n', ARGS_SSE_NAME_MAX + 1);
    strcpy(name + 7 + ARGS_SSE_NAME_MAX + 1, "\n");
    assert_int_equal(feed(&p, name, 1000, out, sizeof(out)), -1);
    args_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_good),
        cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_duration_huge),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_shell_quote),
        cmocka_unit_test(test_shell_join),
        cmocka_unit_test(test_elapsed),
        cmocka_unit_test(test_fit_text),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_split_kv),
        cmocka_unit_test(test_utf8_fix),
        cmocka_unit_test(test_bar),
        cmocka_unit_test(test_fit_columns),
        cmocka_unit_test(test_sse_basic),
        cmocka_unit_test(test_sse_line_ends),
        cmocka_unit_test(test_sse_comments_and_fields),
        cmocka_unit_test(test_sse_incremental_return),
        cmocka_unit_test(test_sse_caps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
