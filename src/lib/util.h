/*
 * util.h -- small helpers: clocks, time formatting, formatted errors.
 */
#ifndef TL_UTIL_H
#define TL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

/* Wall clock in ms since the Unix epoch. */
int64_t tl__now_ms(void);
/* Monotonic clock in ms. */
int64_t tl__mono_ms(void);
/* CLOCK_MONOTONIC in microseconds, to time what is observed. */
int64_t tl__mono_us(void);
/* seconds (>= 0) as a timeval, for libevent timers. */
struct timeval tl__timeval(double seconds);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-21T23:59:01.123Z") into buf (at least 32 bytes). */
void tl__fmt_time(int64_t ms, char *buf, size_t len);

/* Makes dir and its parents, mode 0700 for the ones it creates. */
int tl__mkdir_p(const char *dir);

/* snprintf into a malloc'd string; NULL on failure. */
char *tl__strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
