/*
 * test_tasklog.c -- per-task log files: the line format, tails (within one
 * file, across both files, and over many read blocks), rotation, cut and
 * cleaned lines, missing and removed logs, and a full disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tasklight.h"
#include "tasklog.h"

#define TS_2026 INT64_C(1795305541123) /* 2026-11-21T23:59:01.123Z */

typedef struct fixture {
    char root[64];
    char logs[96]; /* root/logs, made by the first open */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/tl-test-tasklog-XXXXXX");
    if (!mkdtemp(f->root)) {
        free(f);
        return -1;
    }
    snprintf(f->logs, sizeof(f->logs), "%s/logs", f->root);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

    free(f);
    return rc;
}

static void path_of(const fixture_t *f, int64_t id, const char *suffix,
                    char *buf, size_t len)
{
    snprintf(buf, len, "%s/%lld.log%s", f->logs, (long long)id, suffix);
}

static int exists(const fixture_t *f, int64_t id, const char *suffix)
{
    char path[160];
    struct stat st;

    path_of(f, id, suffix, path, sizeof(path));
    return stat(path, &st) == 0;
}

static off_t size_of(const fixture_t *f, int64_t id, const char *suffix)
{
    char path[160];
    struct stat st;

    path_of(f, id, suffix, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void write_file(const fixture_t *f, int64_t id, const char *suffix,
                       const char *text)
{
    char path[160];
    FILE *fp;

    path_of(f, id, suffix, path, sizeof(path));
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static long lines_in(const fixture_t *f, int64_t id, const char *suffix)
{
    char path[160];
    long n = 0;
    FILE *fp;
    int c;

    path_of(f, id, suffix, path, sizeof(path));
    fp = fopen(path, "r");
    assert_non_null(fp);
    while ((c = fgetc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

/* The descriptor this process holds open on path, or -1. */
static int fd_of(const char *path)
{
    char target[256];
    struct dirent *e;
    int found = -1;
    DIR *d = opendir("/proc/self/fd");

    assert_non_null(d);
    while (found < 0 && (e = readdir(d)) != NULL) {
        ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0)
            found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

static char *tail_of(const fixture_t *f, int64_t id, long tail, size_t *len)
{
    char *out = NULL;
    size_t n = 12345;

    assert_int_equal(tl__tasklog_read_tail(f->logs, id, tail, &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    if (len)
        *len = n;
    return out;
}

static long count_lines(const char *s)
{
    long n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The number in a "TS o line N" record. */
static long line_no(const char *line)
{
    char buf[128];
    size_t len = strcspn(line, "\n");
    long n = -1;

    /* sscanf on the whole tail would take strlen of it for every line. */
    assert_true(len < sizeof(buf));
    memcpy(buf, line, len);
    buf[len] = '\0';
    assert_int_equal(sscanf(buf, "%*s %*c line %ld", &n), 1);
    return n;
}

/* Checks that s holds the consecutive records first..last. */
static void check_run(const char *s, long first, long last)
{
    long want = first;

    assert_int_equal(count_lines(s), last - first + 1);
    for (const char *p = s; *p; p = strchr(p, '\n') + 1)
        assert_int_equal(line_no(p), want++);
}

static void append_numbered(tl__tasklog_t *l, long from, long to)
{
    char text[64];

    for (long i = from; i <= to; i++) {
        /* Varying lengths, so block edges fall anywhere in a line. */
        int n = snprintf(text, sizeof(text), "line %ld %.*s", i, (int)(i % 23),
                         "abcdefghijklmnopqrstuvwxyz");
        assert_int_equal(tl__tasklog_append(l, TS_2026 + i, 'o', text, n), 0);
    }
}

static void test_append_read_tail(void **state)
{
    fixture_t *f = *state;
    const char *all = "2026-11-21T23:59:01.123Z o hello world\n"
                      "1970-01-01T00:00:00.000Z e oops\n"
                      "2026-11-21T23:59:01.124Z i \n"
                      "2026-11-21T23:59:02.000Z o last\tone\n";
    tl__tasklog_t *l = NULL;
    struct stat st;
    size_t len;
    char *s;

    assert_int_equal(tl__tasklog_open(f->logs, 7, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append(l, TS_2026, 'o', "hello world", 11), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'e', "oops", 4), 0);
    assert_int_equal(tl__tasklog_append(l, TS_2026 + 1, 'i', NULL, 0), 0);
    assert_int_equal(tl__tasklog_append(l, TS_2026 + 877, 'o', "last\tone", 8),
                     0);
    assert_int_equal(tl__tasklog_append(l, 0, 'x', "bad", 3), TL_EINVAL);

    s = tail_of(f, 7, 0, &len);
    assert_string_equal(s, all);
    assert_int_equal(len, strlen(all));
    free(s);
    s = tail_of(f, 7, 100, NULL);
    assert_string_equal(s, all);
    free(s);
    s = tail_of(f, 7, 2, NULL);
    assert_string_equal(s, "2026-11-21T23:59:01.124Z i \n"
                           "2026-11-21T23:59:02.000Z o last\tone\n");
    free(s);
    s = tail_of(f, 7, 1, NULL);
    assert_string_equal(s, "2026-11-21T23:59:02.000Z o last\tone\n");
    free(s);

    assert_int_equal(stat(f->logs, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char path[160];
    path_of(f, 7, "", path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Children must not inherit the fd. */
    int fd = fd_of(path);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_APPEND);
    tl__tasklog_close(l);
    tl__tasklog_close(NULL);

    /* Reopening appends. */
    assert_int_equal(tl__tasklog_open(f->logs, 7, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', "again", 5), 0);
    tl__tasklog_close(l);
    s = tail_of(f, 7, 0, NULL);
    assert_int_equal(count_lines(s), 5);
    assert_string_equal(s + strlen(all), "1970-01-01T00:00:00.000Z o again\n");
    free(s);
}

static void test_bad_arguments(void **state)
{
    fixture_t *f = *state;
    tl__tasklog_t *l = NULL;
    char *s = NULL;

    assert_int_equal(tl__tasklog_open(f->logs, 1, 0, &l), TL_EINVAL);
    assert_int_equal(tl__tasklog_open(NULL, 1, 100, &l), TL_EINVAL);
    assert_null(l);
    assert_int_equal(tl__tasklog_read_tail(NULL, 1, 0, &s, NULL), TL_EINVAL);
    assert_null(s);
    tl__tasklog_remove(NULL, 1);
}

static void test_rotation_keeps_newest(void **state)
{
    fixture_t *f = *state;
    const int64_t cap = 4096;
    tl__tasklog_t *l = NULL;
    char *s;

    assert_int_equal(tl__tasklog_open(f->logs, 3, cap, &l), 0);
    append_numbered(l, 0, 999);
    tl__tasklog_close(l);

    assert_true(exists(f, 3, ".1"));
    assert_true(size_of(f, 3, "") <= cap / 2);
    assert_true(size_of(f, 3, ".1") <= cap / 2);
    /* ID.log.1 was full when it was rotated out. */
    assert_true(size_of(f, 3, ".1") > cap / 2 - 64);

    s = tail_of(f, 3, 0, NULL);
    long n = count_lines(s);
    assert_true(n > 40);
    check_run(s, 1000 - n, 999);
    free(s);

    /* A tail that takes all of ID.log and part of ID.log.1. */
    long in_cur = lines_in(f, 3, "");
    assert_true(in_cur > 0 && in_cur < n);
    s = tail_of(f, 3, in_cur + 3, NULL);
    check_run(s, 1000 - in_cur - 3, 999);
    free(s);
    s = tail_of(f, 3, in_cur, NULL);
    check_run(s, 1000 - in_cur, 999);
    free(s);
    s = tail_of(f, 3, 5, NULL);
    check_run(s, 995, 999);
    free(s);

    /* Rotation replaces the older ID.log.1. */
    assert_int_equal(tl__tasklog_open(f->logs, 3, cap, &l), 0);
    append_numbered(l, 1000, 1199);
    tl__tasklog_close(l);
    s = tail_of(f, 3, 0, NULL);
    n = count_lines(s);
    check_run(s, 1200 - n, 1199);
    free(s);
}

/* Tails of a file many read blocks long, ending at every kind of place. */
static void test_tail_many_blocks(void **state)
{
    fixture_t *f = *state;
    const long total = 120000;
    const long tails[] = {1, 2, 3, 999, 1637, 4099, 65536, 119999, 120000};
    tl__tasklog_t *l = NULL;
    char *s;

    assert_int_equal(tl__tasklog_open(f->logs, 5, INT64_C(1) << 30, &l), 0);
    append_numbered(l, 0, total - 1);
    tl__tasklog_close(l);
    assert_false(exists(f, 5, ".1"));
    assert_true(size_of(f, 5, "") > 4 * 64 * 1024);

    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        s = tail_of(f, 5, tails[i], NULL);
        check_run(s, total - tails[i], total - 1);
        free(s);
    }
    s = tail_of(f, 5, 10 * total, NULL);
    check_run(s, 0, total - 1);
    free(s);
}

static void test_long_line_cut(void **state)
{
    fixture_t *f = *state;
    const size_t big = 3 * TL__LOG_LINE_MAX;
    const size_t head = strlen("1970-01-01T00:00:00.000Z o ");
    tl__tasklog_t *l = NULL;
    char *text = malloc(big), *s, *line;

    assert_non_null(text);
    memset(text, 'x', big);
    assert_int_equal(tl__tasklog_open(f->logs, 11, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', text, TL__LOG_LINE_MAX), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', text, TL__LOG_LINE_MAX + 1),
                     0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', text, big), 0);
    /* Two-byte characters: the cut must not split one. */
    for (size_t i = 0; i + 1 < big; i += 2)
        memcpy(text + i, "\xc3\xa9", 2);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', text, big), 0);
    tl__tasklog_close(l);

    s = tail_of(f, 11, 0, NULL);
    assert_int_equal(count_lines(s), 4);
    line = s;
    /* exactly the limit: kept whole */
    assert_int_equal(strchr(line, '\n') - line, head + TL__LOG_LINE_MAX);
    assert_int_equal(line[head + TL__LOG_LINE_MAX - 1], 'x');
    for (int i = 0; i < 2; i++) {
        line = strchr(line, '\n') + 1;
        assert_int_equal(strchr(line, '\n') - line, head + TL__LOG_LINE_MAX);
        assert_memory_equal(line + head + TL__LOG_LINE_MAX - 5, "[...]\n", 6);
        assert_int_equal(line[head + TL__LOG_LINE_MAX - 6], 'x');
    }
    line = strchr(line, '\n') + 1;
    size_t text_len = (size_t)(strchr(line, '\n') - line) - head;
    assert_true(text_len <= TL__LOG_LINE_MAX);
    assert_true(text_len >= TL__LOG_LINE_MAX - 3);
    assert_memory_equal(line + head + text_len - 7, "\xc3\xa9[...]", 7);
    free(s);
    free(text);
}

static void test_control_chars(void **state)
{
    fixture_t *f = *state;
    const char text[] = "a\0b\x01"
                        "c\td\r\x7f\x1b[0m\n\xc3\xa9!";
    tl__tasklog_t *l = NULL;
    char *s;

    assert_int_equal(tl__tasklog_open(f->logs, 12, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'e', text, sizeof(text) - 1), 0);
    tl__tasklog_close(l);
    s = tail_of(f, 12, 0, NULL);
    assert_string_equal(s, "1970-01-01T00:00:00.000Z e "
                           "a?b?c\td???[0m?\xc3\xa9!\n");
    free(s);
}

static void test_missing_log(void **state)
{
    fixture_t *f = *state;
    size_t len = 99;
    char *s = NULL;

    /* Not even the logs directory exists yet. */
    assert_int_equal(tl__tasklog_read_tail(f->logs, 42, 10, &s, &len), 0);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    assert_int_equal(mkdir(f->logs, 0700), 0);
    s = tail_of(f, 42, 0, &len);
    assert_string_equal(s, "");
    free(s);
}

/* A line cut short by a crash (no newline) is still a line. */
static void test_unterminated_lines(void **state)
{
    fixture_t *f = *state;
    char *s;

    assert_int_equal(mkdir(f->logs, 0700), 0);
    write_file(f, 8, ".1", "T o line 1\nT o line 2");
    write_file(f, 8, "", "T o line 3\nT o line 4");
    s = tail_of(f, 8, 0, NULL);
    assert_string_equal(s, "T o line 1\nT o line 2\nT o line 3\nT o line 4\n");
    free(s);
    s = tail_of(f, 8, 1, NULL);
    assert_string_equal(s, "T o line 4\n");
    free(s);
    s = tail_of(f, 8, 3, NULL);
    assert_string_equal(s, "T o line 2\nT o line 3\nT o line 4\n");
    free(s);
    /* Empty lines count. */
    write_file(f, 9, "", "\n\nT o line 3\n");
    s = tail_of(f, 9, 2, NULL);
    assert_string_equal(s, "\nT o line 3\n");
    free(s);
}

static void test_remove(void **state)
{
    fixture_t *f = *state;
    tl__tasklog_t *l = NULL;
    char *s;

    assert_int_equal(tl__tasklog_open(f->logs, 21, 1024, &l), 0);
    append_numbered(l, 0, 99);
    tl__tasklog_close(l);
    assert_true(exists(f, 21, ""));
    assert_true(exists(f, 21, ".1"));

    tl__tasklog_remove(f->logs, 21);
    assert_false(exists(f, 21, ""));
    assert_false(exists(f, 21, ".1"));
    s = tail_of(f, 21, 0, NULL);
    assert_string_equal(s, "");
    free(s);
    tl__tasklog_remove(f->logs, 21); /* already gone: fine */
}

static void test_errors(void **state)
{
    fixture_t *f = *state;
    tl__tasklog_t *l = NULL;
    char path[160];

    /* A full disk is TL_EFULL. */
    assert_int_equal(mkdir(f->logs, 0700), 0);
    path_of(f, 30, "", path, sizeof(path));
    assert_int_equal(symlink("/dev/full", path), 0);
    assert_int_equal(tl__tasklog_open(f->logs, 30, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', "x", 1), TL_EFULL);
    tl__tasklog_close(l);

    /* logs_dir is a file: the first line says TL_EIO (the file is made
     * with the first line), and a held line waits for it. */
    l = NULL;
    write_file(f, 31, "", "");
    path_of(f, 31, "", path, sizeof(path));
    assert_int_equal(tl__tasklog_open(path, 1, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append_held(l, 0, 'i', "started", 7), 0);
    assert_int_equal(tl__tasklog_append(l, 0, 'o', "x", 1), TL_EIO);
    tl__tasklog_close(l);
}

/* Held lines make no file by themselves; the first real line writes them
 * first, in order. */
static void test_held_lines(void **state)
{
    fixture_t *f = *state;
    tl__tasklog_t *l = NULL;
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(tl__tasklog_open(f->logs, 40, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append_held(l, 1000, 'i', "started", 7), 0);
    assert_int_equal(tl__tasklog_append_held(l, 2000, 'i', "completed", 9), 0);
    tl__tasklog_close(l);
    assert_false(exists(f, 40, ""));

    assert_int_equal(tl__tasklog_open(f->logs, 41, 1 << 20, &l), 0);
    assert_int_equal(tl__tasklog_append_held(l, 1000, 'i', "started", 7), 0);
    assert_int_equal(tl__tasklog_append(l, 2000, 'o', "hello", 5), 0);
    assert_int_equal(tl__tasklog_append_held(l, 3000, 'i', "completed", 9), 0);
    tl__tasklog_close(l);
    assert_int_equal(tl__tasklog_read_tail(f->logs, 41, 0, &buf, &len), 0);
    const char *a = strstr(buf, " i started\n");
    const char *b = strstr(buf, " o hello\n");
    const char *c = strstr(buf, " i completed\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    free(buf);
}

/* A cap that drops output says so, and removal forgets it. */
static void test_truncated_flag(void **state)
{
    fixture_t *f = *state;
    tl__tasklog_t *l = NULL;
    assert_int_equal(tl__tasklog_open(f->logs, 9, 4096, &l), 0);
    append_numbered(l, 0, 30); /* fits in the first file */
    assert_int_equal(tl__tasklog_truncated(f->logs, 9), 0);
    append_numbered(l, 31, 999); /* rotates, then replaces ID.log.1 */
    tl__tasklog_close(l);
    assert_int_equal(tl__tasklog_truncated(f->logs, 9), 1);
    tl__tasklog_remove(f->logs, 9);
    assert_int_equal(tl__tasklog_truncated(f->logs, 9), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_keeps_newest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tail_many_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
