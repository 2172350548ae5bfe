/*
 * test_progress.c -- progress recognition against the fixture corpus in
 * the .txt files of tests/fixtures/progress, and the user-pattern API.
 *
 * Fixture lines are "EXPECTED<TAB>INPUT". EXPECTED is "-" (no progress) or
 * fields among "p=45.2 c=3842000000 t=8500000000 u=B"; a field left out
 * must be unset (NAN, or "" for u), except p, which is 100*c/t when c and
 * t are given. Numbers compare with a relative tolerance of 1e-3. INPUT
 * may spell any byte as \xHH (escapes are \x1b, a backslash is \x5c).
 * Lines starting with '#' and blank lines are comments. The paths are
 * relative to the repository root, where the Makefile runs the tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "tasklight.h"

#define FIXTURE_DIR "tests/fixtures/progress"
#define MIN_LINES 150
#define MIN_NEGATIVE 50

struct expect {
    int progress;
    double p, c, t;
    char u[16];
};

static int close_enough(double want, double got)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    return fabs(want - got) <= 1e-3 * fmax(fabs(want), fabs(got));
}

static int hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes \xHH in place; returns the new length. */
static size_t unescape(char *s)
{
    size_t i = 0, o = 0;

    while (s[i]) {
        if (s[i] == '\\' && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 &&
            hex(s[i + 3]) >= 0) {
            s[o++] = (char)(hex(s[i + 2]) * 16 + hex(s[i + 3]));
            i += 4;
        } else {
            s[o++] = s[i++];
        }
    }
    s[o] = '\0';
    return o;
}

/* Parses EXPECTED; returns 0 on a malformed one. */
static int parse_expect(char *spec, struct expect *e)
{
    char *save = NULL, *tok;

    e->progress = strcmp(spec, "-") != 0;
    e->p = e->c = e->t = NAN;
    e->u[0] = '\0';
    if (!e->progress)
        return 1;
    for (tok = strtok_r(spec, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *end;
        double v;

        if (strlen(tok) < 2 || tok[1] != '=')
            return 0;
        if (tok[0] == 'u') {
            snprintf(e->u, sizeof(e->u), "%s", tok + 2);
            continue;
        }
        v = strtod(tok + 2, &end);
        if (*end)
            return 0;
        switch (tok[0]) {
        case 'p':
            e->p = v;
            break;
        case 'c':
            e->c = v;
            break;
        case 't':
            e->t = v;
            break;
        default:
            return 0;
        }
    }
    if (isnan(e->p) && !isnan(e->c) && !isnan(e->t))
        e->p = 100 * e->c / e->t;
    return 1;
}

static void show(const char *what, int progress, double p, double c, double t,
                 const char *u)
{
    if (!progress)
        fprintf(stderr, "    %s: no progress\n", what);
    else
        fprintf(stderr, "    %s: p=%.10g c=%.10g t=%.10g u=\"%s\"\n", what, p,
                c, t, u);
}

/* Checks every line of one fixture file; returns the mismatches. */
static int check_file(const char *path, int *lines, int *negative)
{
    FILE *f = fopen(path, "r");
    char buf[16384];
    int lineno = 0, bad = 0;

    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    while (fgets(buf, sizeof(buf), f)) {
        size_t n = strlen(buf), len;
        char *tab, *input;
        struct expect e;
        tl__progress_reading_t r = {NAN, NAN, NAN, "?"};
        int got;

        lineno++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n == 0 || buf[0] == '#')
            continue;
        tab = strchr(buf, '\t');
        if (!tab) {
            fprintf(stderr, "%s:%d: no tab\n", path, lineno);
            bad++;
            continue;
        }
        *tab = '\0';
        input = tab + 1;
        if (!parse_expect(buf, &e)) {
            fprintf(stderr, "%s:%d: bad expectation \"%s\"\n", path, lineno,
                    buf);
            bad++;
            continue;
        }
        len = unescape(input);
        (*lines)++;
        if (!e.progress)
            (*negative)++;
        got = tl__progress_parse(input, len, &r);
        if (got == e.progress &&
            (!got ||
             (close_enough(e.p, r.percent) && close_enough(e.c, r.current) &&
              close_enough(e.t, r.total) && !strcmp(e.u, r.unit))))
            continue;
        bad++;
        fprintf(stderr, "%s:%d: mismatch\n    input: \"%.*s\"\n", path, lineno,
                (int)len, input);
        show("want", e.progress, e.p, e.c, e.t, e.u);
        show("got ", got, r.percent, r.current, r.total, r.unit);
    }
    fclose(f);
    return bad;
}

static int is_fixture(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    return n > 4 && strcmp(d->d_name + n - 4, ".txt") == 0;
}

static void test_corpus(void **state)
{
    struct dirent **names = NULL;
    int n, bad = 0, lines = 0, negative = 0;

    (void)state;
    n = scandir(FIXTURE_DIR, &names, is_fixture, alphasort);
    if (n <= 0)
        fail_msg("no fixtures in %s (run from the repository root)",
                 FIXTURE_DIR);
    for (int i = 0; i < n; i++) {
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, names[i]->d_name);
        bad += check_file(path, &lines, &negative);
        free(names[i]);
    }
    free(names);
    fprintf(stderr, "corpus: %d files, %d lines, %d negative, %d mismatched\n",
            n, lines, negative, bad);
    assert_int_equal(bad, 0);
    assert_true(lines >= MIN_LINES);
    assert_true(negative >= MIN_NEGATIVE);
}

/* Not NUL-terminated, escapes, the cap, and *out untouched on no. */
static void test_parse_edges(void **state)
{
    tl__progress_reading_t r = {1, 2, 3, "x"};
    char big[TL__PROGRESS_MAX_LINE + 2];
    const char *s = "45% complete and then some more words here";

    (void)state;
    assert_int_equal(tl__progress_parse(s, 3, &r), 1);
    assert_true(r.percent == 45);
    assert_true(isnan(r.current) && isnan(r.total));
    assert_string_equal(r.unit, "");
    r.percent = 7;
    assert_int_equal(tl__progress_parse(s, strlen(s), &r), 0);
    assert_true(r.percent == 7);
    assert_int_equal(tl__progress_parse("", 0, &r), 0);
    assert_int_equal(tl__progress_parse(NULL, 5, &r), 0);
    memset(big, ' ', sizeof(big));
    memcpy(big, "45%", 3);
    assert_int_equal(tl__progress_parse(big, TL__PROGRESS_MAX_LINE, &r), 1);
    assert_int_equal(tl__progress_parse(big, sizeof(big), &r), 0);
    s = "\x1b[32m\x1b[1m45%\x1b[0m";
    assert_int_equal(tl__progress_parse(s, strlen(s), &r), 1);
    assert_true(r.percent == 45);
    s = "\x1b]0;title\x07[3/10] cc foo.c\x1b";
    assert_int_equal(tl__progress_parse(s, strlen(s), &r), 1);
    assert_true(r.current == 3 && r.total == 10);
}

static tl__progress_re_t *compile_ok(const char *pattern)
{
    tl__progress_re_t *re = NULL;
    char err[128];
    int rc = tl__progress_re_compile(pattern, &re, err, sizeof(err));

    if (rc != 0)
        fail_msg("compile \"%s\": %d %s", pattern, rc, err);
    assert_non_null(re);
    return re;
}

static void test_re_named(void **state)
{
    tl__progress_re_t *re;
    tl__progress_reading_t r;
    const char *s = "copied 3.8 MB of 8.5 MB so far";

    (void)state;
    re =
        compile_ok("copied (?<current>[\\d.]+ \\w+) of (?<total>[\\d.]+ \\w+)");
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 1);
    assert_true(fabs(r.current - 3.8e6) < 1);
    assert_true(fabs(r.total - 8.5e6) < 1);
    assert_true(fabs(r.percent - 100 * 3.8 / 8.5) < 1e-9);
    assert_string_equal(r.unit, "B");
    tl__progress_re_free(re);

    re = compile_ok("^frame (?<percent>\\d+(?:\\.\\d+)?)%");
    s = "frame 45.5% done";
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 1);
    assert_true(r.percent == 45.5);
    assert_true(isnan(r.current) && isnan(r.total));
    assert_string_equal(r.unit, "");
    s = "frame 145% done"; /* above 100 */
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 0);
    tl__progress_re_free(re);

    /* a count alone, with thousands commas */
    re = compile_ok("rows=(?<current>[\\d,]+)");
    s = "rows=1,234,567";
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 1);
    assert_true(r.current == 1234567);
    assert_true(isnan(r.percent) && isnan(r.total));
    tl__progress_re_free(re);
}

static void test_re_unnamed(void **state)
{
    tl__progress_re_t *re;
    tl__progress_reading_t r;
    const char *s = "pass 2: 37 %";

    (void)state;
    re = compile_ok("(\\d+) %");
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 1);
    assert_true(r.percent == 37);
    tl__progress_re_free(re);

    re = compile_ok("chunk (\\d+) of (\\d+)");
    s = "chunk 11 of 24 written";
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 1);
    assert_true(r.current == 11 && r.total == 24);
    assert_true(fabs(r.percent - 100.0 * 11 / 24) < 1e-9);
    s = "chunk 30 of 24 written"; /* current above total */
    assert_int_equal(tl__progress_re_match(re, s, strlen(s), &r), 0);
    /* the line need not be NUL-terminated: "chunk 11 of 2" */
    s = "chunk 11 of 24";
    assert_int_equal(tl__progress_re_match(re, s, 13, &r), 0);
    tl__progress_re_free(re);
}

static void test_re_errors(void **state)
{
    tl__progress_re_t *re = NULL;
    tl__progress_reading_t r;
    char err[128];

    (void)state;
    assert_int_equal(tl__progress_re_compile("(\\d+", &re, err, sizeof(err)),
                     TL_EINVAL);
    assert_null(re);
    assert_string_equal(err,
                        "bad pattern at offset 4: missing closing parenthesis");
    assert_int_equal(tl__progress_re_compile("abc", &re, err, sizeof(err)),
                     TL_EINVAL);
    assert_string_equal(err, "pattern has no capture group");
    assert_int_equal(tl__progress_re_compile(NULL, &re, err, sizeof(err)),
                     TL_EINVAL);
    /* a tiny error buffer is cut, not overrun */
    assert_int_equal(tl__progress_re_compile("[", &re, err, 8), TL_EINVAL);
    assert_int_equal(strlen(err), 7);

    re = compile_ok("(\\d+)%");
    assert_int_equal(tl__progress_re_match(re, "no numbers", 10, &r), 0);
    assert_int_equal(tl__progress_re_match(re, "", 0, &r), 0);
    assert_int_equal(tl__progress_re_match(NULL, "45%", 3, &r), 0);
    tl__progress_re_free(re);
    tl__progress_re_free(NULL);

    /* catastrophic backtracking hits the match limit: no match, no hang */
    re = compile_ok("^(a+)+(\\d+)%$");
    {
        char s[64];
        memset(s, 'a', sizeof(s));
        memcpy(s + sizeof(s) - 3, "!5%", 3);
        assert_int_equal(tl__progress_re_match(re, s, sizeof(s), &r), 0);
    }
    tl__progress_re_free(re);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),    cmocka_unit_test(test_parse_edges),
        cmocka_unit_test(test_re_named),  cmocka_unit_test(test_re_unnamed),
        cmocka_unit_test(test_re_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
