/*
 * fuzz_redact.c -- libFuzzer target for the redactor.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Iinclude -Isrc/lib tests/fuzz/fuzz_redact.c src/lib/redact.c \
 *     $(pkg-config --cflags --libs libpcre2-8) -o build/fuzz_redact
 *   build/fuzz_redact -max_total_time=60
 *
 * Input: [shape][cap][seed x4][prefix length][prefix + suffix bytes]. Two
 * checks per input:
 *   1. The whole input, cut into lines, goes through a redactor with user
 *      patterns and a stream state, into a buffer of exactly cap bytes (ASan
 *      catches a write past it): *out_len <= cap, and the result is a prefix
 *      of the uncut one, which fits in 6 * len + 16 bytes.
 *   2. A secret in the alphabet of one recognised shape, drawn from a PRNG
 *      seeded by the input, is planted in that shape between the prefix and
 *      the suffix (a blank on each side); a private key goes over several
 *      lines with a stream state. No 8-byte piece of the secret may be in
 *      the output more often than in the text around it (the fuzzer can
 *      still copy pieces there). The search is a plain loop, not memmem,
 *      whose needles libFuzzer would learn.
 */
#include "redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define PIECE 8
#define LINE_MAX 16384

static tl__redactor_t *builtin, *custom;
static uint32_t rng;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const extra[] = {"internal-[0-9]{4}", "session=(\\w+)",
                                        "(?:a+)+z", "x*", NULL};
    char err[128];

    (void)argc;
    (void)argv;
    if (tl__redactor_new(NULL, &builtin, err, sizeof(err)) ||
        tl__redactor_new(extra, &custom, err, sizeof(err))) {
        fprintf(stderr, "fuzz_redact: %s\n", err);
        abort();
    }
    return 0;
}

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define UPNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define B64 ALNUM "+/"
#define TOK ALNUM "-_"
/* a bare value ends at a blank or a quote; anything else belongs to it */
#define PLAIN ALNUM "!#$%()*+,-./:;<>?@[]^_{|}~&=\\"
#define QUERY ALNUM "%-._~+/"
#define QUOTED PLAIN " "
#define URLPASS ALNUM "!$%&()*+,;=:@-._~"
#define BEARER ALNUM "-._~+/="

/* Appends n chars of alphabet abc, the first a letter (pwd=/x is a
 * directory, PASS=3 a count). */
static size_t gen(char *p, const char *abc, size_t n)
{
    size_t m = strlen(abc);

    for (size_t k = 0; k < n; k++) {
        do
            p[k] = abc[next() % m];
        while (k == 0 && ((p[k] | 0x20) < 'a' || (p[k] | 0x20) > 'z'));
    }
    return n;
}

static const struct shape {
    const char *before, *abc, *after;
    size_t min, max;
    bool digit; /* the shape needs one: a digit is appended */
} shapes[] = {
    {"password=", PLAIN, "", 6, 30, false},
    {"DB_PASSWORD=", PLAIN, "", 6, 30, false},
    {"passwd: ", PLAIN, "", 6, 30, false},
    {"pwd=", PLAIN, "", 6, 30, false},
    {"secret = ", PLAIN, "", 6, 30, false},
    {"client_secret=", PLAIN, "", 6, 30, false},
    {"\"api_key\": \"", QUOTED, "\"", 6, 30, false},
    {"{\"access_token\":\"", QUOTED, "\",\"n\":1}", 6, 30, false},
    {"'password': '", QUOTED, "'", 6, 30, false},
    {"apikey='", QUOTED, "'", 6, 30, false},
    {"--password ", PLAIN, "", 6, 30, false},
    {"--token=", PLAIN, "", 6, 30, false},
    {"--client-secret \"", QUOTED, "\"", 6, 30, false},
    {"Authorization: Bearer ", BEARER, "", 8, 40, false},
    {"Authorization: Basic ", B64, "", 8, 40, false},
    {"-H 'authorization: token ", TOK, "'", 8, 40, false},
    {"https://h.example/cb?x=1&access_token=", QUERY, "&y=2", 8, 40, false},
    {"https://h.example/?token=", QUERY, "#f", 8, 40, false},
    {"https://s3.example/k?X-Amz-Signature=", QUERY, "&a=b", 8, 40, false},
    {"https://h.example/x?a=b&sig=", QUERY, "", 8, 40, false},
    {"postgres://bob:", URLPASS, "@db:5432/app", 8, 40, false},
    {"https://:", URLPASS, "@h/x", 8, 40, false},
    {"AKIA", UPNUM, "", 16, 16, false},
    {"ASIA", UPNUM, "", 16, 16, false},
    {"aws_secret_access_key = ", B64, "", 40, 40, false},
    {"ghp_", ALNUM, "", 36, 36, false},
    {"gho_", ALNUM, "", 36, 36, false},
    {"ghs_", ALNUM, "", 36, 36, false},
    {"github_pat_", ALNUM "_", "", 60, 82, false},
    {"xoxb-", ALNUM "-", "", 20, 50, false},
    {"xoxp-", ALNUM "-", "", 20, 50, false},
    {"sk_live_", ALNUM, "", 24, 32, false},
    {"rk_live_", ALNUM, "", 24, 32, false},
    {"AIza", TOK, "", 35, 35, false},
    {"sk-", TOK, "", 40, 60, true},
    {"Bearer ", BEARER, "", 16, 40, true},
};

#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))
#define JWT NSHAPES
#define PEM (NSHAPES + 1)

/* Occurrences of n in h[0..hn) that do not overlap h[skip..skip+sn). */
static size_t count(const char *h, size_t hn, const char *n, size_t nn,
                    size_t skip, size_t sn)
{
    size_t c = 0;

    for (size_t k = 0; k + nn <= hn; k++) {
        size_t j = 0;
        while (j < nn && h[k + j] == n[j])
            j++;
        if (j == nn && (k + nn <= skip || k >= skip + sn))
            c++;
    }
    return c;
}

static void show(const char *what, const char *p, size_t n)
{
    fprintf(stderr, "%s: '", what);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)p[k];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "'\n");
}

/* No piece of the secret (at line[at..at+sn)) is in the output more often
 * than in the text around it, which the fuzzer may have copied it into. */
static void check_clean(const char *out, size_t n, const char *line, size_t len,
                        size_t at, size_t sn)
{
    size_t w = sn < PIECE ? sn : PIECE;
    const char *secret = line + at;

    for (size_t k = 0; w && k + w <= sn; k++) {
        if (count(out, n, secret + k, w, n, 0) >
            count(line, len, secret + k, w, at, sn)) {
            show("leak of", secret, sn);
            show("line", line, len);
            show("out", out, n);
            abort();
        }
    }
}

/* Check 1. */
static void stream(const uint8_t *data, size_t size, size_t cap)
{
    tl__redact_state_t st = {0}, st2 = st;
    const char *p = (const char *)data, *end = p + size;

    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        size_t fcap = 6 * len + 16, n, fn;
        char *full = malloc(fcap), *cut = cap ? malloc(cap) : NULL;
        int c, fc;

        if (!full || (cap && !cut))
            abort();
        fc = tl__redact(custom, &st, p, len, full, fcap, &fn);
        c = tl__redact(custom, &st2, p, len, cut, cap, &n);
        if (fc < 0 || c != fc || fn >= fcap || n > cap ||
            n != (fn < cap ? fn : cap) || (n && memcmp(cut, full, n)) ||
            st.in_key != st2.in_key)
            abort();
        free(full);
        free(cut);
        if (!nl)
            break;
        p = nl + 1;
    }
}

static void redact_line(const char *line, size_t len, tl__redact_state_t *st,
                        size_t at, size_t sn)
{
    static char out[6 * LINE_MAX + 16];
    size_t n;

    if (tl__redact(builtin, st, line, len, out, sizeof(out), &n) < 0)
        abort();
    check_clean(out, n, line, len, at, sn);
}

/* Check 2. */
static void planted(unsigned shape, const char *pre, size_t pn, const char *suf,
                    size_t sufn)
{
    static char line[LINE_MAX], secret[512];
    tl__redact_state_t st = {0};
    size_t len = 0, sn = 0, at = 0;

    memcpy(line, pre, pn);
    len = pn;
    line[len++] = ' ';
    if (shape < NSHAPES) {
        const struct shape *s = &shapes[shape];
        size_t n = s->min + next() % (s->max - s->min + 1);

        sn = gen(secret, s->abc, n);
        if (s->digit)
            secret[sn++] = '7';
        at = len + strlen(s->before);
        len += (size_t)sprintf(line + len, "%s%.*s%s", s->before, (int)sn,
                               secret, s->after);
    } else if (shape == JWT) {
        sn = (size_t)sprintf(secret, "eyJ");
        sn += gen(secret + sn, TOK, 10 + next() % 30);
        sn += (size_t)sprintf(secret + sn, ".eyJ");
        sn += gen(secret + sn, TOK, 10 + next() % 60);
        secret[sn++] = '.';
        sn += gen(secret + sn, TOK, 10 + next() % 40);
        at = len;
        memcpy(line + len, secret, sn);
        len += sn;
    } else { /* PEM over several lines */
        char body[65];

        len += (size_t)sprintf(line + len, "-----BEGIN RSA PRIVATE KEY-----");
        redact_line(line, len, &st, 0, 0);
        if (st.in_key == 0)
            abort();
        for (int k = 1 + next() % 5; k > 0; k--) {
            size_t bn = gen(body, B64, 64 - (k == 1 ? next() % 40 : 0));
            redact_line(body, bn, &st, 0, bn);
        }
        len = (size_t)sprintf(line, "-----END RSA PRIVATE KEY-----");
        redact_line(line, len, &st, 0, 0);
        if (st.in_key != 0)
            abort();
        return;
    }
    line[len++] = ' ';
    memcpy(line + len, suf, sufn);
    len += sufn;
    redact_line(line, len, &st, at, sn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 9, 10, 11, 16, 40, 80, 200, 100000};
    size_t pn, rest;
    const char *text;

    if (size < 7)
        return 0;
    stream(data, size, caps[data[1] % (sizeof(caps) / sizeof(caps[0]))]);

    rng = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
          (uint32_t)data[5] << 24;
    rng = rng * 2654435761u + 1; /* never 0 */
    if (!rng)
        rng = 1;
    text = (const char *)data + 7;
    rest = size - 7;
    if (rest > LINE_MAX / 2)
        rest = LINE_MAX / 2;
    pn = data[6] < rest ? data[6] : rest;
    planted(data[0] % (NSHAPES + 2), text, pn, text + pn, rest - pn);
    return 0;
}
