/*
 * util.c -- clocks, RFC 3339 formatting, directory creation, formatted
 * strings, and the library's error table (generated from TL_ERRNO_MAP).
 */
#include "util.h"

#include "tasklight.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int64_t tl__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tl__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tl__mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timeval tl__timeval(double seconds)
{
    time_t whole = (time_t)seconds;
    return (struct timeval){whole, (suseconds_t)((seconds - whole) * 1e6)};
}

static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

/* Written digit by digit: every task in JSON carries five of these and
 * every log line one, and snprintf was a tenth of a busy daemon. */
void tl__fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int year = tm.tm_year + 1900, milli = (int)(ms % 1000);
    if (len < sizeof("2006-01-02T15:04:05.000Z") || year < 0 || year > 9999 ||
        milli < 0) {
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 milli < 0 ? 0 : milli);
        return;
    }
    char *p = put_digits(buf, year, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, milli, 3);
    *p++ = 'Z';
    *p = '\0';
}

int tl__mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return TL_EINVAL;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return TL_EIO;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return TL_EIO;
    return 0;
}

char *tl__strfmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

void tl_free(void *p)
{
    free(p);
}

const char *tl_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define TL_ERR_MSG(name, code, status, api, msg)                               \
    case TL_##name:                                                            \
        return msg;
        TL_ERRNO_MAP(TL_ERR_MSG)
#undef TL_ERR_MSG
    }
    return "unknown error";
}

const char *tl_err_name(int err)
{
    switch (err) {
    case 0:
        return "ok";
#define TL_ERR_API(name, code, status, api, msg)                               \
    case TL_##name:                                                            \
        return api;
        TL_ERRNO_MAP(TL_ERR_API)
#undef TL_ERR_API
    }
    return "internal";
}

int tl_err_http_status(int err)
{
    switch (err) {
    case 0:
        return 200;
#define TL_ERR_STATUS(name, code, status, api, msg)                            \
    case TL_##name:                                                            \
        return status;
        TL_ERRNO_MAP(TL_ERR_STATUS)
#undef TL_ERR_STATUS
    }
    return 500;
}
