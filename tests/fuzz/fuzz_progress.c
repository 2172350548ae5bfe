/*
 * fuzz_progress.c -- libFuzzer target for the progress recognisers and the
 * user-pattern matcher. Every reading must keep the invariants progress.h
 * promises; the input buffer is exactly the line, so ASan reports any read
 * past len.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -Iinclude -Isrc/lib tests/fuzz/fuzz_progress.c src/lib/progress.c \
 *     $(pkg-config --cflags --libs libpcre2-8) -lm -o fuzz_progress
 *   ./fuzz_progress -max_total_time=60 CORPUS
 *
 * Good seeds for CORPUS are the INPUT columns of tests/fixtures/progress.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const tl__progress_reading_t *r)
{
    if (!isnan(r->percent) && !(r->percent >= 0 && r->percent <= 100))
        abort();
    if (!isnan(r->current) && !(r->current >= 0 && isfinite(r->current)))
        abort();
    if (!isnan(r->total) && !(r->total > 0 && isfinite(r->total)))
        abort();
    if (!isnan(r->current) && !isnan(r->total) && r->current > r->total)
        abort();
    if (isnan(r->percent) && isnan(r->current))
        abort();
    if (memchr(r->unit, '\0', sizeof(r->unit)) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tl__progress_re_t *re;
    tl__progress_reading_t r;

    if (!re && tl__progress_re_compile(
                   "(?<current>[\\d.,]+\\s?\\w*)\\s*(?:/|of)\\s*(?<total>[\\d."
                   ",]+\\s?\\w*)|(?<percent>\\d+(?:\\.\\d+)?)\\s?%",
                   &re, NULL, 0) != 0)
        abort();
    if (tl__progress_parse((const char *)data, size, &r))
        check(&r);
    if (tl__progress_re_match(re, (const char *)data, size, &r))
        check(&r);
    return 0;
}
