/*
 * redact.c -- replacing secrets in output lines by "[REDACTED]" (what is
 * recognised is listed in redact.h).
 *
 * DESIGN: three stages, each much rarer than the one before.
 *   1. The prefilter finds anchors, the bytes one of the built-in shapes must
 *      contain: '=' ':' (assignments, headers, URLs), '-' (options, PEM, sk-,
 *      xoxb-), '_' (ghp_, sk_live_), 'I' (AKIA, AIza), 'J' (eyJ) and 'b' 'B'
 *      (Bearer), 16 bytes at a time with SSE2.
 *   2. Each anchor is judged from its neighbours by table lookups (tables_t):
 *      '=' after "rd" may end "password", after "us" it cannot end a keyword;
 *      '-' after a digit is a date. A line with no anchor left is copied as
 *      is, which is what nearly every line costs.
 *   3. The matcher of the anchor looks back (the key before '=') and forward
 *      (the value, the token) and records byte ranges of the input; the
 *      output is the input with each merged range replaced.
 * A matcher returns where scanning goes on: past what it examined and found
 * clean, or at the start of what it redacted, since a redacted value may
 * hold the key of the next secret ("password=--token: SECRET", a BEGIN marker
 * at the end of a token). Rescanning redacted ranges could make a line of
 * nested assignments quadratic, so the bytes matchers look at are counted
 * and past a budget (8 per byte of the line) the rest of the line is
 * redacted. Everything fails closed: too many ranges, an unbalanced quote, a
 * user pattern that hits its match limit, all redact more, never less.
 * tl__redact() never allocates; the redactor is read-only but for the PCRE2
 * match data.
 */
#include "redact.h"

#include "tasklight.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define SPANS_MAX 64 /* ranges per line; more redacts the rest */
#define KEY_BACK 64  /* key bytes looked at before '=' or ':' */
#define MATCH_LIMIT 200000
#define RED_LEN (sizeof(TL__REDACTED) - 1)

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* Anchor classes. An anchor byte is a candidate, worth running its matcher
 * on, when one of its classes accepts the two bytes before it and the byte
 * after it: kind[c] & prev2[s[p - 2]] & prev[s[p - 1]] & next[s[p + 1]]. */
enum {
    A_Q = 1 << 0,       /* ':' '=' after a blank or quote */
    A_D = 1 << 1,       /* ... after "rd", "wd": password, passwd, pwd */
    A_E = 1 << 2,       /* "se", "re": passphrase, signature */
    A_G = 1 << 3,       /* "ig": sig */
    A_N = 1 << 4,       /* "en", "on": token, authorization */
    A_S = 1 << 5,       /* "ss": pass */
    A_T = 1 << 6,       /* "et": secret */
    A_Y = 1 << 7,       /* "ey": apikey, secretkey, ... */
    C_URL = 1 << 8,     /* "://" */
    C_DASH2 = 1 << 9,   /* "--" */
    C_SK = 1 << 10,     /* "sk-" */
    C_XOX = 1 << 11,    /* "xoxb-" */
    C_US = 1 << 12,     /* "ghp_", "github_", "sk_live_" */
    C_AWS = 1 << 13,    /* "AKIA", "ASIA", "AIza" */
    C_JWT = 1 << 14,    /* "eyJ" */
    C_BEARER = 1 << 15, /* "Bearer" */
};

#define A_ANY (A_Q | A_D | A_E | A_G | A_N | A_S | A_T | A_Y)

typedef struct tables {
    uint16_t kind[256], prev2[256], prev[256], next[256];
} tables_t;

struct tl__redactor {
    tables_t t;
    size_t npat;
    pcre2_code **pat;
    bool *group1;         /* the pattern has a capture group */
    bool *jit;            /* JIT-compiled */
    pcre2_match_data *md; /* scratch: one thread at a time */
    pcre2_match_context *mctx;
};

typedef struct span {
    size_t a, b; /* [a, b) of the input */
} span_t;

typedef struct spans {
    span_t s[SPANS_MAX];
    size_t n;
    size_t len; /* of the line */
} spans_t;

typedef struct line {
    const unsigned char *s;
    size_t len;
    spans_t *sp;
    tl__redact_state_t *st; /* may be NULL */
    const tables_t *t;
    size_t work; /* bytes scanned by matchers, see scan() */
} line_t;

/* ---- bytes (ASCII only, whatever the locale) --------------------------- */

enum {
    B_DIGIT = 1 << 0,
    B_UPPER = 1 << 1,
    B_LOWER = 1 << 2,
    B_SEP = 1 << 3,   /* _ - . inside keys */
    B_BLANK = 1 << 4, /* space, tab */
    B_SPACE = 1 << 5, /* blanks, \n \v \f \r */
    B_B64 = 1 << 6,   /* + / = besides letters and digits */
};

#define B_ALNUM (B_DIGIT | B_UPPER | B_LOWER)

/* The class of byte c, a constant expression. */
#define BCLASS(c)                                                              \
    (((c) >= '0' && (c) <= '9' ? B_DIGIT : 0) |                                \
     ((c) >= 'A' && (c) <= 'Z' ? B_UPPER : 0) |                                \
     ((c) >= 'a' && (c) <= 'z' ? B_LOWER : 0) |                                \
     ((c) == '_' || (c) == '-' || (c) == '.' ? B_SEP : 0) |                    \
     ((c) == ' ' || (c) == '\t' ? B_BLANK : 0) |                               \
     ((c) == ' ' || ((c) >= '\t' && (c) <= '\r') ? B_SPACE : 0) |              \
     ((c) == '+' || (c) == '/' || (c) == '=' ? B_B64 : 0))
#define BC4(c) BCLASS(c), BCLASS(c + 1), BCLASS(c + 2), BCLASS(c + 3)
#define BC16(c) BC4(c), BC4(c + 4), BC4(c + 8), BC4(c + 12)
#define BC64(c) BC16(c), BC16(c + 16), BC16(c + 32), BC16(c + 48)

static const unsigned char bclass[256] = {BC64(0), BC64(64), BC64(128),
                                          BC64(192)};

static inline bool is_a(unsigned c, unsigned cls)
{
    return (bclass[(unsigned char)c] & cls) != 0;
}

static inline bool is_digit(unsigned c)
{
    return is_a(c, B_DIGIT);
}

static inline bool is_alpha(unsigned c)
{
    return is_a(c, B_UPPER | B_LOWER);
}

static inline bool is_upper(unsigned c)
{
    return is_a(c, B_UPPER);
}

static inline bool is_lower(unsigned c)
{
    return is_a(c, B_LOWER);
}

static inline bool is_alnum(unsigned c)
{
    return is_a(c, B_ALNUM);
}

static inline unsigned lower(unsigned c)
{
    return is_upper(c) ? c | 0x20 : c;
}

static inline bool is_blank(unsigned c)
{
    return is_a(c, B_BLANK);
}

static inline bool is_space(unsigned c)
{
    return is_a(c, B_SPACE);
}

static inline bool is_sep(unsigned c)
{
    return is_a(c, B_SEP);
}

static inline bool is_keych(unsigned c)
{
    return is_a(c, B_ALNUM | B_SEP);
}

/* base64url, the alphabet of most tokens */
static inline bool is_tokch(unsigned c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

static inline bool is_b64(unsigned c)
{
    return is_a(c, B_ALNUM | B_B64);
}

/* s[p] starts a word: not glued to a letter or digit before it. */
static inline bool word_at(const unsigned char *s, size_t p)
{
    return p == 0 || !is_alnum(s[p - 1]);
}

/* s[p..p+n) equals lit (lowercase) case-insensitively; p+n <= len. */
static bool ieq(const unsigned char *s, size_t len, size_t p, const char *lit,
                size_t n)
{
    if (p > len || len - p < n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (lower(s[p + k]) != (unsigned char)lit[k])
            return false;
    return true;
}

static bool eq(const unsigned char *s, size_t len, size_t p, const char *lit,
               size_t n)
{
    return p <= len && len - p >= n && memcmp(s + p, lit, n) == 0;
}

static size_t find(const unsigned char *s, size_t from, size_t to,
                   const char *lit, size_t n)
{
    const void *p = from < to ? memmem(s + from, to - from, lit, n) : NULL;

    return p ? (size_t)((const unsigned char *)p - s) : to;
}

/* ---- ranges ------------------------------------------------------------ */

static void add(spans_t *sp, size_t a, size_t b)
{
    span_t *last;

    if (a >= b)
        return;
    if (sp->n < SPANS_MAX) {
        sp->s[sp->n].a = a;
        sp->s[sp->n].b = b;
        sp->n++;
        return;
    }
    /* Full: fail closed, the last range grows to the end of the line. */
    last = &sp->s[SPANS_MAX - 1];
    if (a < last->a)
        last->a = a;
    last->b = sp->len;
}

/* ---- private-key blocks ------------------------------------------------ */

/* i is at "-----BEGIN ". Keeps the marker, redacts what follows it up to
 * "-----END" on the line or to the end (then the stream is in the block). */
static size_t at_pem(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, le, m, f, a, b;

    l->work += len - i;
    le = find(s, i + 11, len, "-----", 5);
    if (le == len)
        return i + 5;
    if (find(s, i + 11, le, "PRIVATE KEY", 11) == le)
        return i + 5; /* a certificate, a public key */
    m = le + 5;
    f = find(s, m, len, "-----END", 8);
    for (a = m; a < f && is_space(s[a]);)
        a++;
    for (b = f; b > a && is_space(s[b - 1]);)
        b--;
    add(l->sp, a, b);
    if (f == len && l->st)
        l->st->in_key = 1;
    return i + 5;
}

/* Adds [a, b). Scanning goes on at a: what was redacted may hold the start
 * of another secret that ends past b ("password=--token: SECRET", a BEGIN
 * marker at the end of a token). */
static size_t redact(line_t *l, size_t a, size_t b)
{
    add(l->sp, a, b);
    return a;
}

static bool armor_header(const unsigned char *s, size_t a, size_t b)
{
    size_t k = a;

    while (k < b && (is_alpha(s[k]) || s[k] == '-'))
        k++;
    return k > a && k < b && s[k] == ':';
}

/* A line of a stream inside a block. Returns where the normal scan starts:
 * len when the line is consumed, 0 when it ends the block. */
static size_t in_block(line_t *l)
{
    const unsigned char *s = l->s;
    size_t len = l->len, a = 0, b = len, f, k;

    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return len; /* blank: between armor headers and body */
    f = find(s, a, b, "-----END", 8);
    if (f < b) {
        k = f;
        while (k > a && is_space(s[k - 1]))
            k--;
        add(l->sp, a, k);
        l->st->in_key = 0;
        return f + 8;
    }
    for (k = a; k < b && is_b64(s[k]);)
        k++;
    if (k == b) {
        add(l->sp, a, b);
        l->st->in_key = 2;
        return len;
    }
    if (l->st->in_key == 1 && armor_header(s, a, b)) {
        add(l->sp, a, b);
        return len;
    }
    l->st->in_key = 0;
    return 0;
}

/* ---- assignments ------------------------------------------------------- */

enum { K_NONE, K_PLAIN, K_PASS, K_PWD, K_AUTH, K_QUERY };

/* The last three letters of a word, packed. */
#define T3(a, b, c) ((unsigned)(a) << 16 | (unsigned)(b) << 8 | (unsigned)(c))

static const struct keyword {
    const char *w;
    unsigned char n, kind, bound; /* bound: must start a component */
    unsigned tail;
} keywords[] = {
    {"password", 8, K_PLAIN, 0, T3('o', 'r', 'd')},
    {"passwd", 6, K_PLAIN, 0, T3('s', 'w', 'd')},
    {"passphrase", 10, K_PLAIN, 0, T3('a', 's', 'e')},
    {"secret", 6, K_PLAIN, 0, T3('r', 'e', 't')},
    {"token", 5, K_PLAIN, 0, T3('k', 'e', 'n')},
    {"apikey", 6, K_PLAIN, 0, T3('k', 'e', 'y')},
    {"secretkey", 9, K_PLAIN, 0, T3('k', 'e', 'y')},
    {"accesskey", 9, K_PLAIN, 0, T3('k', 'e', 'y')},
    {"privatekey", 10, K_PLAIN, 0, T3('k', 'e', 'y')},
    {"authorization", 13, K_AUTH, 0, T3('i', 'o', 'n')},
    {"pwd", 3, K_PWD, 1, T3('p', 'w', 'd')},
    {"pass", 4, K_PASS, 1, T3('a', 's', 's')},
    {"sig", 3, K_QUERY, 1, T3('s', 'i', 'g')},
    {"signature", 9, K_QUERY, 0, T3('u', 'r', 'e')},
};

#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

/* The last three letters (or digits) of the key ending at s[ke], no lower
 * than lo, lowercased and without separators, packed with T3. */
static unsigned key_tail(const unsigned char *s, size_t lo, size_t ke)
{
    unsigned tail = 0, n = 0;

    for (size_t p = ke; p > lo && n < 3;) {
        unsigned c = s[--p], cls = bclass[c];

        if (!(cls & (B_ALNUM | B_SEP)))
            break;
        if (!(cls & B_SEP))
            tail |= (c | 0x20) << (8 * n++); /* lowercase; digits stay */
    }
    return tail;
}

/* Whether some keyword ends in tail: most keys of ordinary logs stop here
 * ("status", "limit", "offset"). */
static bool known_tail(unsigned tail)
{
    switch (tail) {
    case T3('o', 'r', 'd'):
    case T3('s', 'w', 'd'):
    case T3('a', 's', 'e'):
    case T3('r', 'e', 't'):
    case T3('k', 'e', 'n'):
    case T3('k', 'e', 'y'):
    case T3('i', 'o', 'n'):
    case T3('p', 'w', 'd'):
    case T3('a', 's', 's'):
    case T3('s', 'i', 'g'):
    case T3('u', 'r', 'e'):
        return true;
    default:
        return false;
    }
}

/* The key s[ks..ke) ends in w (n letters), ignoring case and separators;
 * *start is then where w begins. */
static bool key_ends(const unsigned char *s, size_t ks, size_t ke,
                     const char *w, size_t n, size_t *start)
{
    size_t p = ke;

    while (n > 0) {
        unsigned c;

        if (p == ks)
            return false;
        c = s[--p];
        if (is_sep(c))
            continue;
        if (lower(c) != (unsigned char)w[n - 1])
            return false;
        n--;
    }
    *start = p;
    return true;
}

/* The kind of the key s[ks..ke): it ends, ignoring case and the separators
 * '_', '-', '.', in a keyword (at a component start for short ones: "DB_PASS"
 * and "dbPass", not "bypass"). sig and signature only count in a query. */
static int key_kind(const unsigned char *s, size_t ks, size_t ke, bool query)
{
    unsigned tail = key_tail(s, ks, ke);

    for (size_t k = 0; k < NKEYWORDS; k++) {
        const struct keyword *kw = &keywords[k];
        size_t p;

        if (kw->tail != tail || (kw->kind == K_QUERY && !query) ||
            !key_ends(s, ks, ke, kw->w, kw->n, &p))
            continue;
        if (!kw->bound || p == ks || is_sep(s[p - 1]) ||
            (is_upper(s[p]) && is_lower(s[p - 1])))
            return kw->kind;
    }
    return K_NONE;
}

enum { V_PLAIN, V_JSON, V_QUERY };

static bool value_end(unsigned c, int ctx)
{
    if (is_space(c) || c == '"' || c == '\'')
        return true;
    if (ctx == V_JSON)
        return c == ',' || c == '}' || c == ']';
    return ctx == V_QUERY && (c == '&' || c == '#');
}

/* Whether the quote s[q..q+n) closes a value: what follows can end one.
 * When it cannot ("pass='x apikey='SECRET'"), quotes are unbalanced and
 * where the secret is becomes unclear, so callers redact the rest of the
 * line. */
static bool closes(const unsigned char *s, size_t len, size_t q, size_t n)
{
    unsigned c;

    if (q + n >= len)
        return true;
    c = s[q + n];
    if (c == s[q])
        return false; /* 'a''b' */
    return is_space(c) || c == '"' || c == '\'' || c == '\\' || c == ',' ||
           c == ';' || c == ')' || c == ']' || c == '}' || c == '>' ||
           c == '&' || c == '#';
}

/* The value starting at s[v]: quoted ('...', "...", or \"...\" inside a JSON
 * string) up to its closing quote, else up to a blank or quote, and also ','
 * '}' ']' after a JSON key, '&' '#' in a query. A bare "password=a&b" is
 * taken whole: cutting it at '&' could leave part of a password. Sets
 * [*a, *b), what to redact. */
static void value(line_t *l, size_t v, int ctx, size_t *a, size_t *b)
{
    const unsigned char *s = l->s;
    size_t len = l->len, k;

    if (v < len && (s[v] == '"' || s[v] == '\'')) {
        unsigned char q = s[v];
        for (k = v + 1; k < len && s[k] != q;)
            k += s[k] == '\\' ? 2 : 1;
        *a = v + 1;
        *b = k < len && closes(s, len, k, 1) ? k : len;
        l->work += k - v;
        return;
    }
    if (v + 1 < len && s[v] == '\\' && s[v + 1] == '"') {
        k = find(s, v + 2, len, "\\\"", 2);
        *a = v + 2;
        *b = k < len && closes(s, len, k + 1, 1) ? k : len;
        l->work += k - v;
        return;
    }
    for (k = v; k < len && !value_end(s[k], ctx);)
        k++;
    l->work += k - v;
    if (k < len && (s[k] == '"' || s[k] == '\'') && !closes(s, len, k, 1))
        k = len;
    *a = v;
    *b = k;
}

static bool is_scheme(const unsigned char *s, size_t a, size_t b)
{
    if (b - a > 32)
        return false;
    for (size_t k = a; k < b; k++)
        if (!is_alnum(s[k]) && s[k] != '-')
            return false;
    return true;
}

/* The value of an Authorization key at s[v]: keeps the scheme ("Bearer"),
 * redacts the rest up to the closing quote or the end of the line. */
static size_t auth_value(line_t *l, size_t v)
{
    const unsigned char *s = l->s;
    size_t len = l->len, e, w, r;

    if (v < len && (s[v] == '"' || s[v] == '\''))
        v++;
    for (e = v; e < len && s[e] != '"' && s[e] != '\'';)
        e++;
    l->work += e - v;
    if (e < len && !closes(s, len, e, 1))
        e = len;
    while (e > v && is_space(s[e - 1]))
        e--;
    for (w = v; w < e && !is_space(s[w]);)
        w++;
    for (r = w; r < e && is_blank(s[r]);)
        r++;
    if (r < e && is_scheme(s, v, w))
        add(l->sp, r, e);
    else if (r < e)
        add(l->sp, v, e);
    else if (w > v && !(w - v == 6 && ieq(s, len, v, "bearer", 6)) &&
             !(w - v == 5 && ieq(s, len, v, "basic", 5)))
        add(l->sp, v, w);
    return v; /* the scheme is scanned too */
}

/* i is at '=' or ':'. Finds the key before it ("k", "\"k\"", "--k", with
 * blanks) and, if it names a secret, redacts the value after it. */
static size_t at_assign(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, j = i, ke, ks, lim, v, a, b;
    bool quoted = false, query;
    unsigned sep = s[i];
    int kind;

    if (sep == '=') {
        if (i + 1 < len && s[i + 1] == '=')
            return i + 2; /* "==" compares */
        if (i > 0 && s[i - 1] == ':')
            return i + 1; /* ":=" was seen at ':' */
    }
    while (j > 0 && is_blank(s[j - 1]))
        j--;
    if (j > 0 && (s[j - 1] == '"' || s[j - 1] == '\'')) {
        quoted = true;
        j--;
        if (j > 0 && s[j - 1] == '\\')
            j--;
    }
    ke = j;
    lim = ke > KEY_BACK ? ke - KEY_BACK : 0;
    if (!known_tail(key_tail(s, lim, ke)))
        return i + 1;
    while (j > lim && is_keych(s[j - 1]))
        j--;
    ks = j;
    query = ks > 0 && (s[ks - 1] == '?' || s[ks - 1] == '&');
    kind = key_kind(s, ks, ke, query);
    if (kind == K_NONE || (kind == K_PASS && sep == ':'))
        return i + 1;

    v = i + 1;
    if (v < len && s[v] == (sep == ':' ? '=' : '>'))
        v++; /* "k := v", "k => v" */
    while (v < len && is_blank(s[v]))
        v++;
    if (kind == K_AUTH)
        return auth_value(l, v);
    if (eq(s, len, v + (v < len && s[v] == '"'), "-----BEGIN ", 11))
        return at_pem(l, v + (s[v] == '"'));
    value(l, v, quoted ? V_JSON : query ? V_QUERY : V_PLAIN, &a, &b);
    if (a >= b)
        return v;
    if (kind == K_PWD && s[a] == '/')
        return v; /* PWD=/home/x is a directory */
    if (kind == K_PASS) {
        size_t k = a;
        while (k < b && is_digit(s[k]))
            k++;
        if (k == b)
            return v; /* PASS=3: a count */
    }
    return redact(l, a, b);
}

/* i is at ':' of "://". Redacts the password of "user:password@host". */
static size_t at_url(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, h = i + 3, e, at, c;

    for (e = h; e < len; e++) {
        unsigned ch = s[e];
        if (ch == '/' || ch == '?' || ch == '#' || is_space(ch) || ch == '"' ||
            ch == '\'' || ch == '<' || ch == '>')
            break;
    }
    for (at = e; at > h && s[at - 1] != '@';)
        at--;
    if (at == h)
        return h;
    at--;
    for (c = h; c < at && s[c] != ':';)
        c++;
    if (c < at)
        add(l->sp, c + 1, at);
    return h; /* the user part stays and is scanned */
}

/* ---- long options, PEM markers, xox?-, sk- ------------------------------ */

/* i is at "--" before an option name. "--password v" redacts v; "--k=v" is
 * left to the '=' matcher. */
static size_t at_option(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, e, v, a, b;
    int kind;

    for (e = i + 2; e < len && is_keych(s[e]);)
        e++;
    if (e >= len || !is_blank(s[e]))
        return i + 2;
    kind = key_kind(s, i + 2, e, false);
    if (kind == K_NONE || kind == K_QUERY)
        return i + 2;
    for (v = e; v < len && is_blank(s[v]);)
        v++;
    if (v >= len || s[v] == '-')
        return i + 2;
    value(l, v, V_PLAIN, &a, &b);
    if (a < b && !(kind == K_PWD && s[a] == '/'))
        add(l->sp, a, b);
    return i + 2; /* the name is scanned too */
}

/* The end of the run of bytes ok() takes from p. */
static size_t run(line_t *l, size_t p, bool (*ok)(unsigned))
{
    size_t k = p;

    while (k < l->len && ok(l->s[k]))
        k++;
    l->work += k - p;
    return k;
}

static bool is_patch(unsigned c)
{
    return is_alnum(c) || c == '_';
}

static bool is_slackch(unsigned c)
{
    return is_alnum(c) || c == '-';
}

static bool is_bearerch(unsigned c)
{
    return is_tokch(c) || c == '.' || c == '~' || c == '+' || c == '/' ||
           c == '=';
}

static size_t at_dash(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, k;

    if (i + 1 < len && s[i + 1] == '-') {
        if (eq(s, len, i, "-----BEGIN ", 11))
            return at_pem(l, i);
        if (i + 2 < len && is_alnum(s[i + 2]) &&
            (i == 0 || is_space(s[i - 1]) || s[i - 1] == '"' ||
             s[i - 1] == '\''))
            return at_option(l, i);
        return i + 1;
    }
    /* xoxb-, xoxp-, ... Slack */
    if (i >= 4 && s[i - 4] == 'x' && s[i - 3] == 'o' && s[i - 2] == 'x' &&
        memchr("abposr", s[i - 1], 6) && word_at(s, i - 4)) {
        k = run(l, i + 1, is_slackch);
        if (k - (i + 1) >= 10)
            return redact(l, i - 4, k);
    }
    /* sk-..., sk-proj-...: OpenAI-style */
    if (i >= 2 && s[i - 2] == 's' && s[i - 1] == 'k' && word_at(s, i - 2)) {
        bool digit = false, alpha = false;
        for (k = i + 1; k < len && is_tokch(s[k]); k++) {
            digit |= is_digit(s[k]);
            alpha |= is_alpha(s[k]);
        }
        l->work += k - i;
        if (k - (i + 1) >= 20 && digit && alpha)
            return redact(l, i - 2, k);
    }
    return i + 1;
}

/* ---- ghp_, github_pat_, sk_live_ ---------------------------------------- */

static size_t at_underscore(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, k;

    if (i >= 3 && s[i - 3] == 'g' && s[i - 2] == 'h' &&
        memchr("posur", s[i - 1], 5) && word_at(s, i - 3)) {
        k = run(l, i + 1, is_alnum);
        if (k - (i + 1) >= 20)
            return redact(l, i - 3, k);
    }
    if (i >= 6 && eq(s, len, i - 6, "github_pat_", 11) && word_at(s, i - 6)) {
        k = run(l, i + 5, is_patch);
        if (k - (i + 5) >= 20)
            return redact(l, i - 6, k);
    }
    if (i >= 2 && (s[i - 2] == 's' || s[i - 2] == 'r') && s[i - 1] == 'k' &&
        word_at(s, i - 2) &&
        (eq(s, len, i + 1, "live_", 5) || eq(s, len, i + 1, "test_", 5))) {
        k = run(l, i + 6, is_alnum);
        if (k - (i + 6) >= 10)
            return redact(l, i - 2, k);
    }
    return i + 1;
}

/* ---- AKIA, ASIA, AIza, eyJ, Bearer -------------------------------------- */

static bool is_awsch(unsigned c)
{
    return is_upper(c) || is_digit(c);
}

static size_t at_upper_i(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, k;

    if (i >= 2 && s[i - 2] == 'A' && (s[i - 1] == 'K' || s[i - 1] == 'S') &&
        i + 1 < len && s[i + 1] == 'A' && word_at(s, i - 2)) {
        k = run(l, i + 2, is_awsch);
        if (k - (i + 2) == 16 && (k == len || !is_alnum(s[k])))
            return redact(l, i - 2, k);
    }
    if (i >= 1 && s[i - 1] == 'A' && eq(s, len, i + 1, "za", 2) &&
        word_at(s, i - 1)) {
        k = run(l, i + 3, is_tokch);
        if (k - (i + 3) >= 35)
            return redact(l, i - 1, k);
    }
    return i + 1;
}

/* i is at the J of "eyJ": header.payload.signature, base64url JSON. */
static size_t at_jwt(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, k;

    if (i < 2 || s[i - 2] != 'e' || s[i - 1] != 'y' || !word_at(s, i - 2))
        return i + 1;
    k = run(l, i + 1, is_tokch);
    if (k - (i - 2) < 10 || !eq(s, len, k, ".eyJ", 4))
        return i + 1;
    k = run(l, k + 4, is_tokch);
    if (k >= len || s[k] != '.')
        return i + 1;
    k = run(l, k + 1, is_tokch);
    return redact(l, i - 2, k);
}

static size_t at_bearer(line_t *l, size_t i)
{
    const unsigned char *s = l->s;
    size_t len = l->len, v, k;
    bool digit = false;

    if (!ieq(s, len, i, "bearer", 6) || i + 6 >= len || !is_blank(s[i + 6]) ||
        !word_at(s, i))
        return i + 1;
    for (v = i + 7; v < len && is_blank(s[v]);)
        v++;
    for (k = v; k < len && is_bearerch(s[k]); k++)
        digit |= is_digit(s[k]);
    l->work += k - i;
    if (k - v >= 8 && digit)
        return redact(l, v, k);
    return i + 6;
}

/* The matcher for the anchor s[i]; returns where scanning goes on. */
static size_t dispatch(line_t *l, size_t i)
{
    switch (l->s[i]) {
    case ':':
        if (i + 2 < l->len && l->s[i + 1] == '/' && l->s[i + 2] == '/')
            return at_url(l, i);
        /* fall through */
    case '=':
        return at_assign(l, i);
    case '-':
        return at_dash(l, i);
    case '_':
        return at_underscore(l, i);
    case 'I':
        return at_upper_i(l, i);
    case 'J':
        return at_jwt(l, i);
    default:
        return at_bearer(l, i);
    }
}

/* ---- the prefilter ----------------------------------------------------- */

/* The first bit of m (anchors from s[i]) whose anchor may start a secret,
 * judged from its neighbours only, as a position; or SIZE_MAX. This turns
 * most anchors of ordinary text away ("12:00", "INFO:", "2024-05",
 * "queue_depth", "INFO", "brown") without a call. */
static ALWAYS_INLINE size_t first_candidate(const tables_t *t,
                                            const unsigned char *s, size_t i,
                                            uint64_t m)
{
    for (; m && i < 2; m &= m - 1) { /* fewer than two bytes before */
        size_t p = i + (size_t)__builtin_ctzll(m);
        unsigned b = p == 1 ? s[0] : 0;

        if (p >= 2)
            break;
        if (t->kind[s[p]] & (p == 1 ? t->prev2[0] : 0xffffu) & t->prev[b] &
            t->next[s[p + 1]])
            return p;
    }
    for (; m; m &= m - 1) {
        size_t p = i + (size_t)__builtin_ctzll(m);

        if (t->kind[s[p]] & t->prev2[s[p - 2]] & t->prev[s[p - 1]] &
            t->next[s[p + 1]])
            return p;
    }
    return SIZE_MAX;
}

#if defined(__SSE2__)
/* Bit k set: p[k] is an anchor. */
static ALWAYS_INLINE unsigned anchors16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* '-' | 0x10 == '=' | 0x10 == '='; 'B' | 0x20 == 'b' */
    __m128i m = _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x10)),
                               _mm_set1_epi8('='));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('I')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('J')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                                       _mm_set1_epi8('b')));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The prefilter: the first anchor at or after i that may start a secret, or
 * len. The last byte is never a candidate: no secret follows it. 16 bytes at
 * a time with SSE2 (always there on x86-64), the last ones with one load
 * that ends at the end; a byte loop for short lines and other CPUs. */
static ALWAYS_INLINE size_t next_candidate(const tables_t *t,
                                           const unsigned char *s, size_t len,
                                           size_t i)
{
    size_t end = len - 1, p; /* so that s[p + 1] is in the line */
    unsigned m;

    if (len < 2 || i >= end)
        return len;
#if defined(__SSE2__)
    if (end >= 16) {
        for (; end - i > 16; i += 16) {
            p = first_candidate(t, s, i, anchors16(s + i));
            if (p != SIZE_MAX)
                return p;
        }
        m = anchors16(s + end - 16) >> (16 - (end - i));
        p = first_candidate(t, s, i, m);
        return p != SIZE_MAX ? p : len;
    }
#endif
    for (; i < end; i += 16) {
        m = 0;
        for (size_t k = 0; k < 16 && i + k < end; k++)
            m |= (unsigned)(t->kind[s[i + k]] != 0) << k;
        p = first_candidate(t, s, i, m);
        if (p != SIZE_MAX)
            return p;
    }
    return len;
}

static void build_tables(tables_t *t)
{
    static const struct {
        char last, before[3];
        uint16_t cls;
    } ends[] = {
        {'d', "rw", A_D}, {'e', "sr", A_E}, {'g', "i", A_G}, {'n', "eo", A_N},
        {'s', "s", A_S},  {'t', "e", A_T},  {'y', "e", A_Y},
    };

    for (unsigned c = 0; c < 256; c++) {
        unsigned lc = lower(c);
        uint16_t p2 = A_Q | C_URL | C_DASH2 | C_AWS | C_BEARER;
        uint16_t p = C_URL | C_DASH2;
        uint16_t n = A_ANY | C_SK | C_XOX | C_US | C_JWT;

        for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
            if (lc == (unsigned char)ends[k].last)
                p |= ends[k].cls;
            if (lc && strchr(ends[k].before, (int)lc))
                p2 |= ends[k].cls;
        }
        if (!is_keych(c))
            p |= A_Q;
        if (c == 'k')
            p |= C_SK;
        if (c == 's')
            p2 |= C_SK;
        if (c && strchr("abposr", (int)c))
            p |= C_XOX;
        if (c == 'x')
            p2 |= C_XOX;
        if (c && strchr("posurbk", (int)c))
            p |= C_US;
        if (c && strchr("husr", (int)c))
            p2 |= C_US;
        if (c == 'K' || c == 'S' || c == 'A')
            p |= C_AWS;
        if (c == 'y')
            p |= C_JWT;
        if (c == 'e')
            p2 |= C_JWT;
        if (!is_alnum(c))
            p |= C_BEARER;
        if (c == '/')
            n |= C_URL;
        if (c == '-')
            n |= C_DASH2;
        if (c == 'A' || c == 'z')
            n |= C_AWS;
        if (lc == 'e')
            n |= C_BEARER;
        t->prev2[c] = p2;
        t->prev[c] = p;
        t->next[c] = n;
        t->kind[c] = 0;
    }
    t->kind[':'] = A_ANY | C_URL;
    t->kind['='] = A_ANY;
    t->kind['-'] = C_DASH2 | C_SK | C_XOX;
    t->kind['_'] = C_US;
    t->kind['I'] = C_AWS;
    t->kind['J'] = C_JWT;
    t->kind['b'] = C_BEARER;
    t->kind['B'] = C_BEARER;
}

/* Runs the matchers from i to the end of the line. Redacted ranges are
 * scanned again (see redact()), which a line made of nested assignments
 * ("token=token=...") could turn quadratic: past a budget of work the rest of
 * the line is redacted instead. */
static void scan(line_t *l, size_t i)
{
    size_t budget = 8 * l->len + 4096;

    while ((i = next_candidate(l->t, l->s, l->len, i)) < l->len) {
        size_t next;

        if (l->work > budget) {
            add(l->sp, i, l->len);
            return;
        }
        next = dispatch(l, i);
        i = next > i ? next : i + 1;
    }
}

/* ---- user patterns ----------------------------------------------------- */

static void user_patterns(const tl__redactor_t *r, const char *in, size_t len,
                          spans_t *sp)
{
    for (size_t k = 0; k < r->npat; k++) {
        size_t off = 0;

        while (off <= len) {
            PCRE2_SIZE *ov;
            size_t a, b;
            int rc;

            if (r->jit[k])
                rc = pcre2_jit_match(r->pat[k], (PCRE2_SPTR)in, len, off, 0,
                                     r->md, r->mctx);
            else
                rc = pcre2_match(r->pat[k], (PCRE2_SPTR)in, len, off, 0, r->md,
                                 r->mctx);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0) {
                add(sp, 0, len); /* could not tell: fail closed */
                return;
            }
            ov = pcre2_get_ovector_pointer(r->md);
            a = ov[0];
            b = ov[1];
            if (r->group1[k] && (rc == 0 || rc > 1) && ov[2] != PCRE2_UNSET) {
                a = ov[2];
                b = ov[3];
            }
            add(sp, a, b);
            off = ov[1] > off ? ov[1] : off + 1;
        }
    }
}

/* ---- output ------------------------------------------------------------ */

static void put(char *out, size_t cap, size_t *o, const void *p, size_t n)
{
    if (n > cap - *o)
        n = cap - *o;
    if (n) {
        memcpy(out + *o, p, n);
        *o += n;
    }
}

static int emit(spans_t *sp, const char *in, size_t len, char *out, size_t cap,
                size_t *out_len)
{
    size_t o = 0, pos = 0, x;
    int count = 0;

    for (x = 1; x < sp->n; x++) {
        span_t t = sp->s[x];
        size_t y = x;
        for (; y > 0 && sp->s[y - 1].a > t.a; y--)
            sp->s[y] = sp->s[y - 1];
        sp->s[y] = t;
    }
    for (x = 0; x < sp->n;) {
        size_t a = sp->s[x].a, b = sp->s[x].b;
        for (x++; x < sp->n && sp->s[x].a <= b; x++)
            if (sp->s[x].b > b)
                b = sp->s[x].b;
        put(out, cap, &o, in + pos, a - pos);
        put(out, cap, &o, TL__REDACTED, RED_LEN);
        pos = b;
        count++;
    }
    put(out, cap, &o, in + pos, len - pos);
    *out_len = o;
    return count;
}

/* Everything but the common case, kept out of tl__redact() so that the
 * common case needs no stack frame to speak of. */
static int __attribute__((noinline))
redact_line(const tl__redactor_t *r, tl__redact_state_t *st, const char *in,
            size_t len, size_t from, char *out, size_t cap, size_t *out_len)
{
    spans_t sp;
    line_t l;

    sp.n = 0;
    sp.len = len;
    l.s = (const unsigned char *)in;
    l.len = len;
    l.sp = &sp;
    l.st = st;
    l.t = &r->t;
    l.work = 0;
    if (st && st->in_key)
        from = in_block(&l);
    if (from < len)
        scan(&l, from);
    if (r->npat)
        user_patterns(r, in, len, &sp);
    return emit(&sp, in, len, out, cap, out_len);
}

int tl__redact(const tl__redactor_t *r, tl__redact_state_t *st, const char *in,
               size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t from, n;

    if ((st && st->in_key) || r->npat)
        return redact_line(r, st, in, len, 0, out, cap, out_len);
    from = next_candidate(&r->t, (const unsigned char *)in, len, 0);
    if (from < len)
        return redact_line(r, st, in, len, from, out, cap, out_len);
    n = len < cap ? len : cap; /* the common case: nothing to look at */
    if (n)
        memcpy(out, in, n);
    *out_len = n;
    return 0;
}

/* ---- construction ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int tl__redactor_new(const char *const *extra, tl__redactor_t **out, char *err,
                     size_t errlen)
{
    tl__redactor_t *r;
    size_t n = 0;
    int rc = TL_ENOMEM;

    if (err && errlen)
        err[0] = '\0';
    while (extra && extra[n])
        n++;
    if (n > TL__REDACT_PATTERNS_MAX) {
        set_err(err, errlen, "too many patterns: %zu, at most %d", n,
                TL__REDACT_PATTERNS_MAX);
        return TL_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return TL_ENOMEM;
    build_tables(&r->t);
    if (n) {
        r->pat = calloc(n, sizeof(*r->pat));
        r->group1 = calloc(n, sizeof(*r->group1));
        r->jit = calloc(n, sizeof(*r->jit));
        r->md = pcre2_match_data_create(2, NULL);
        r->mctx = pcre2_match_context_create(NULL);
        if (!r->pat || !r->group1 || !r->jit || !r->md || !r->mctx)
            goto out;
        pcre2_set_match_limit(r->mctx, MATCH_LIMIT);
    }
    for (; r->npat < n; r->npat++) {
        const char *p = extra[r->npat];
        size_t plen = strlen(p);
        PCRE2_SIZE off;
        uint32_t groups = 0;
        int ec;

        if (plen > TL__REDACT_PATTERN_MAX) {
            set_err(err, errlen, "pattern %zu: longer than %d bytes",
                    r->npat + 1, TL__REDACT_PATTERN_MAX);
            rc = TL_EINVAL;
            goto out;
        }
        r->pat[r->npat] =
            pcre2_compile((PCRE2_SPTR)p, plen, 0, &ec, &off, NULL);
        if (!r->pat[r->npat]) {
            PCRE2_UCHAR msg[120];

            if (ec == PCRE2_ERROR_HEAP_FAILED)
                goto out;
            if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
                strcpy((char *)msg, "bad pattern");
            set_err(err, errlen, "pattern %zu: %s at offset %zu", r->npat + 1,
                    (const char *)msg, (size_t)off);
            rc = TL_EINVAL;
            goto out;
        }
        pcre2_pattern_info(r->pat[r->npat], PCRE2_INFO_CAPTURECOUNT, &groups);
        r->group1[r->npat] = groups > 0;
        /* Without JIT (unsupported CPU, no executable memory) the
         * interpreter runs the pattern. */
        r->jit[r->npat] =
            pcre2_jit_compile(r->pat[r->npat], PCRE2_JIT_COMPLETE) == 0;
    }
    *out = r;
    return 0;
out:
    tl__redactor_free(r);
    return rc;
}

void tl__redactor_free(tl__redactor_t *r)
{
    if (!r)
        return;
    for (size_t k = 0; r->pat && k < r->npat; k++)
        pcre2_code_free(r->pat[k]);
    free(r->pat);
    free(r->group1);
    free(r->jit);
    pcre2_match_data_free(r->md);
    pcre2_match_context_free(r->mctx);
    free(r);
}
