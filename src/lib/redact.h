/*
 * redact.h -- replacing secrets in output lines by "[REDACTED]" before they
 * are stored.
 *
 * DESIGN: a redactor is built once (built-in rules plus optional user
 * patterns) and then applied to every output line, so the common case, a
 * line with no secret, must cost little: one SIMD pass finds the few bytes
 * every built-in shape needs ('=', ':', '-', '_', 'I', 'J', 'b', 'B'), table
 * lookups on their neighbours drop most of them ("12:00", "status=200"), and
 * a line with none left is copied as is. The rest go to hand-written
 * matchers that record byte ranges of the input; overlapping ranges are
 * merged and each becomes one "[REDACTED]". Matching fails closed: more
 * secrets than the range list takes, an unbalanced quote, a pathological
 * line past its work budget, or a user pattern that hits its match limit
 * redact the rest of the line (or all of it) rather than pass it through.
 *
 * Built-in shapes (the key or scheme is kept, the value replaced):
 *   - assignments "k=v", "k = v", "k: v", "k:v", "\"k\": \"v\"", "k='v'",
 *     "--k=v" and "--k v", where k ends (case-insensitively, ignoring '_',
 *     '-' and '.') in password, passwd, passphrase, secret, token, apikey,
 *     secretkey, accesskey, privatekey, or is pwd / pass as a whole word
 *     ("DB_PASS=x", not "bypass=x"; not "pass:" because test runners print
 *     "PASS: name"); a pwd whose value is an absolute path is the working
 *     directory (PWD=/home/x), not a secret;
 *   - "Authorization: <scheme> <credentials>" (Bearer, Basic, ...): the
 *     scheme is kept, the rest of the value replaced;
 *   - URL query parameters named like the keys above, or sig, signature
 *     (X-Amz-Signature); "scheme://user:password@host" keeps the user;
 *   - tokens by shape: AWS key ids (AKIA/ASIA + 16 upper alnum), GitHub
 *     (ghp_ gho_ ghs_ ghu_ ghr_ github_pat_), Slack (xox[abpors]-), Stripe
 *     (sk_live_ rk_live_ sk_test_ rk_test_), Google (AIza + 35), OpenAI-style
 *     (sk- + 20 or more, with a digit), JWTs (eyJ..eyJ..sig) and "Bearer
 *     <token>" anywhere (8 or more token chars, with a digit);
 *   - private-key blocks: "-----BEGIN ... PRIVATE KEY-----" keeps its marker
 *     and redacts what follows on the line; the lines after it that look
 *     like armor headers or base64 are redacted whole while the stream is in
 *     the block (tl__redact_state_t), until "-----END" (kept). A line that
 *     is neither ends the block, so a key cut short does not swallow the
 *     rest of the output.
 * Ordinary text stays: "password reset link sent", "the token is invalid",
 * "tokens: 1024", "key=value".
 *
 * User patterns (PCRE2 syntax, no UTF, JIT-compiled when available) run on
 * every line, after the built-ins and on the original text: each match, or
 * its group 1 when the pattern has one and it is set, is replaced.
 *
 * Threads: a redactor is immutable after tl__redactor_new() except for
 * scratch space used by user patterns, so one redactor serves one thread at a
 * time (the manager thread). Memory: tl__redactor_new() returns TL_ENOMEM on
 * allocation failure; tl__redact() never allocates.
 */
#ifndef TL_REDACT_H
#define TL_REDACT_H

#include <stddef.h>

/* The replacement of every secret. */
#define TL__REDACTED "[REDACTED]"
/* At most this many user patterns, each at most TL__REDACT_PATTERN_MAX
 * bytes; more is TL_EINVAL. */
#define TL__REDACT_PATTERNS_MAX 64
#define TL__REDACT_PATTERN_MAX 1024

typedef struct tl__redactor tl__redactor_t;

/* What a stream remembers between lines: whether it is inside a private-key
 * block. One per output stream (a task's stdout and stderr each have one),
 * zeroed when the stream starts: tl__redact_state_t st = {0}. */
typedef struct tl__redact_state {
    unsigned char in_key; /* 0 outside, 1 just after BEGIN, 2 in the body */
} tl__redact_state_t;

/* Builds a redactor with the built-in rules and extra, a NULL-terminated
 * list of user patterns (PCRE2 syntax; the whole match, or group 1 if
 * present, is replaced); extra may be NULL. On success *out is set; free it
 * with tl__redactor_free(). Returns TL_EINVAL with a message in err (errlen
 * bytes, NUL-terminated; err may be NULL) for a bad pattern, too many
 * patterns or one too long, TL_ENOMEM on allocation failure. */
int tl__redactor_new(const char *const *extra, tl__redactor_t **out, char *err,
                     size_t errlen);
/* Frees r; NULL is fine. */
void tl__redactor_free(tl__redactor_t *r);

/* Writes the line in (len bytes, need not be NUL-terminated, without its
 * newline) with every secret replaced by "[REDACTED]" into out, which has
 * room for cap bytes (out may be NULL when cap is 0). The result is cut to
 * cap bytes if longer, never overflows and is not NUL-terminated; a cut
 * result is a prefix of the redacted line, so it holds no secret. *out_len
 * gets its length (<= cap). st is the stream's state (see above); NULL
 * treats the line alone, without following a private-key block across
 * lines. Returns the number of secrets replaced (>= 0). */
int tl__redact(const tl__redactor_t *r, tl__redact_state_t *st, const char *in,
               size_t len, char *out, size_t cap, size_t *out_len);

#endif
