/*
 * test_redact.c -- the redactor: a table of lines and what must be stored
 * for them (every built-in shape, and ordinary lines that must stay as
 * they are), private-key blocks across lines, output cut at the cap, user
 * patterns and bad ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redact.h"
#include "tasklight.h"

#define R TL__REDACTED

static const struct redact_case {
    const char *in, *want;
} cases[] = {
    /* key=value, key: value */
    {"password=hunter2", "password=" R},
    {"PASSWORD=hunter2 user=bob", "PASSWORD=" R " user=bob"},
    {"db_password: s3cr3t", "db_password: " R},
    {"passwd: hunter2", "passwd: " R},
    {"pwd=abc123", "pwd=" R},
    {"secret=xyz", "secret=" R},
    {"SECRET_KEY=django-insecure-1", "SECRET_KEY=" R},
    {"api_key=abcd1234", "api_key=" R},
    {"apikey: abcd1234", "apikey: " R},
    {"X-Api-Key: abcd1234", "X-Api-Key: " R},
    {"access_token=abc.def", "access_token=" R},
    {"token=abc123 next", "token=" R " next"},
    {"client_secret=shh", "client_secret=" R},
    {"private_key: abc", "private_key: " R},
    {"passphrase = opensesame", "passphrase = " R},
    {"DB_PASS=hunter2", "DB_PASS=" R},
    {"dbPass=hunter2", "dbPass=" R},
    {"password=a&b=c", "password=" R},
    {"password := hunter2", "password := " R},
    {"password=\"two words\" next", "password=\"" R "\" next"},
    {"password='two words' next", "password='" R "' next"},
    /* JSON and friends */
    {"{\"password\": \"hunter2\", \"user\": \"bob\"}",
     "{\"password\": \"" R "\", \"user\": \"bob\"}"},
    {"{\"token\":12345,\"n\":1}", "{\"token\":" R ",\"n\":1}"},
    {"{\"password\": \"a\\\"b\"}", "{\"password\": \"" R "\"}"},
    {"{'password': 'hunter 2'}", "{'password': '" R "'}"},
    {"msg=\"{\\\"password\\\": \\\"hunter 2\\\"}\"",
     "msg=\"{\\\"password\\\": \\\"" R "\\\"}\""},
    {"{\"password\"=>\"hunter2\", \"id\"=>1}",
     "{\"password\"=>\"" R "\", \"id\"=>1}"},
    {"['password' => 'hunter2']", "['password' => '" R "']"},
    {"{Password:hunter2 User:bob}", "{Password:" R " User:bob}"},
    /* long options */
    {"mysql --password hunter2 -u root", "mysql --password " R " -u root"},
    {"mysql --password=hunter2 -u root", "mysql --password=" R " -u root"},
    {"tool --api-key abc123 --verbose", "tool --api-key " R " --verbose"},
    {"tool --client-secret 'a b' x", "tool --client-secret '" R "' x"},
    /* Authorization headers, Bearer */
    {"Authorization: Bearer abc.def.ghi", "Authorization: Bearer " R},
    {"authorization: basic dXNlcjpwYXNz", "authorization: basic " R},
    {"curl -H 'Authorization: Bearer tok123' https://x",
     "curl -H 'Authorization: Bearer " R "' https://x"},
    {"{\"Authorization\": \"Token abc\", \"Host\": \"x\"}",
     "{\"Authorization\": \"Token " R "\", \"Host\": \"x\"}"},
    {"Authorization: rawsecretvalue", "Authorization: " R},
    {"Proxy-Authorization: Basic YWxhZGRpbjpvcGVu",
     "Proxy-Authorization: Basic " R},
    {"using Bearer abcdef123456 for x", "using Bearer " R " for x"},
    /* URLs */
    {"GET https://api.x.com/v1?token=abc123&page=2",
     "GET https://api.x.com/v1?token=" R "&page=2"},
    {"https://x.com/cb?code=1&access_token=abc#frag",
     "https://x.com/cb?code=1&access_token=" R "#frag"},
    {"https://x.com/?a=1&api_key=k123", "https://x.com/?a=1&api_key=" R},
    {"https://b.blob.core.windows.net/c?sv=2020&sig=abc%2Bdef&se=x",
     "https://b.blob.core.windows.net/c?sv=2020&sig=" R "&se=x"},
    {"https://s3.amazonaws.com/b/k?X-Amz-Signature=deadbeef&X-Amz-Date=1",
     "https://s3.amazonaws.com/b/k?X-Amz-Signature=" R "&X-Amz-Date=1"},
    {"postgres://bob:s3cret@db:5432/app", "postgres://bob:" R "@db:5432/app"},
    {"redis://:hunter2@localhost:6379", "redis://:" R "@localhost:6379"},
    {"git clone https://x:p%40ss@github.com/a/b.git",
     "git clone https://x:" R "@github.com/a/b.git"},
    /* AWS */
    {"key id AKIAIOSFODNN7EXAMPLE used", "key id " R " used"},
    {"ASIAY34FZKBOKMUTVV7A", R},
    {"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key = " R},
    /* tokens by shape */
    {"export GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789", "export GH=" R},
    {"gho_16C7e42F292c6912E7710c838347Ae178B4a", R},
    {"ghs_16C7e42F292c6912E7710c838347Ae178B4a end", R " end"},
    {"ghu_16C7e42F292c6912E7710c838347Ae178B4a", R},
    {"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", R},
    {"slack xoxb-123456789012-abcdefghij ok", "slack " R " ok"},
    {"xoxp-1234-5678-abcdef1234", R},
    {"stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe " R},
    {"rk_live_abcdefghij12345", R},
    {"google AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe.", "google " R "."},
    {"OPENAI sk-proj-abc123def456ghi789jkl012", "OPENAI " R},
    {"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
     "jwt " R " ok"},
    {"none eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. ok", "none " R " ok"},
    /* a PEM key held on one line */
    {"{\"k\": \"-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE "
     "KEY-----\\n\"}",
     "{\"k\": \"-----BEGIN PRIVATE KEY-----" R "-----END PRIVATE "
     "KEY-----\\n\"}"},
    /* several in one line */
    {"password=a token=b AKIAIOSFODNN7EXAMPLE",
     "password=" R " token=" R " " R},
    /* unbalanced quotes and nested keys (found by fuzzing) */
    {"pass='x apikey='s3cr3t' end", "pass='" R},
    {"--password: --client-secret \"s3cr3t\"", "--password: " R " \"" R "\""},
    {"password=token: s3cr3t", "password=" R " " R},
    {"-----BEGIN aws_secret_access_key = s3cr3t x------",
     "-----BEGIN aws_secret_access_key = " R " x------"},
    {"password=ab\"cd", "password=" R},
    {"--ghp_abcdefghijklmnopqrstuvwxyz0123456789_password x",
     "--" R "_password " R},
    /* must not change */
    {"password reset link sent", "password reset link sent"},
    {"the token is invalid", "the token is invalid"},
    {"tokens: 1024", "tokens: 1024"},
    {"key=value", "key=value"},
    {"max_tokens=4096 temperature=0.2", "max_tokens=4096 temperature=0.2"},
    {"PASS: test_redact", "PASS: test_redact"},
    {"PASS=3 FAIL=0", "PASS=3 FAIL=0"},
    {"bypass=true", "bypass=true"},
    {"PWD=/home/user", "PWD=/home/user"},
    {"config sig=abc", "config sig=abc"},
    {"if password == expected:", "if password == expected:"},
    {"Enter password: ", "Enter password: "},
    {"password=", "password="},
    {"password=\"\"", "password=\"\""},
    {"mysql -p hunter2", "mysql -p hunter2"},
    {"tool --token-file /etc/tok", "tool --token-file /etc/tok"},
    {"tool --password --other", "tool --password --other"},
    {"bearer token required", "bearer token required"},
    {"Authorization: Bearer", "Authorization: Bearer"},
    {"https://user@host/path", "https://user@host/path"},
    {"http://host:8080/x@y", "http://host:8080/x@y"},
    {"AKIAIOSFODNN7EXAMPLEX", "AKIAIOSFODNN7EXAMPLEX"},
    {"sk-learn-is-a-python-library-name", "sk-learn-is-a-python-library-name"},
    {"task-1234567890123456789012", "task-1234567890123456789012"},
    {"ghp_short", "ghp_short"},
    {"-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----"},
    {"2024-05-01T12:00:03Z INFO worker 3 processed 1532 items in 0.84s",
     "2024-05-01T12:00:03Z INFO worker 3 processed 1532 items in 0.84s"},
    {"", ""},
};

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;

    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static tl__redactor_t *builtin(void)
{
    tl__redactor_t *r = NULL;
    char err[128];

    assert_int_equal(tl__redactor_new(NULL, &r, err, sizeof(err)), 0);
    assert_non_null(r);
    return r;
}

/* Redacts in with r (and st) into a NUL-terminated static buffer. */
static const char *red(const tl__redactor_t *r, tl__redact_state_t *st,
                       const char *in, int *count)
{
    static char out[4096];
    size_t n = 12345;
    int c;

    c = tl__redact(r, st, in, strlen(in), out, sizeof(out) - 1, &n);
    assert_true(n < sizeof(out));
    out[n] = '\0';
    if (count)
        *count = c;
    return out;
}

static void test_table(void **state)
{
    tl__redactor_t *r = builtin();

    (void)state;
    assert_true(sizeof(cases) / sizeof(cases[0]) >= 60);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct redact_case *c = &cases[k];
        int count;
        const char *got = red(r, NULL, c->in, &count);

        if (strcmp(got, c->want) != 0)
            print_error("case %zu: %s\n", k, c->in);
        assert_string_equal(got, c->want);
        assert_int_equal(count, count_of(c->want, R) - count_of(c->in, R));
        /* The same with a state: a single line does not open a block. */
        {
            tl__redact_state_t st = {0};
            assert_string_equal(red(r, &st, c->in, NULL), c->want);
        }
    }
    tl__redactor_free(r);
}

/* The input need not be NUL-terminated: the secret runs to len. */
static void test_not_terminated(void **state)
{
    tl__redactor_t *r = builtin();
    const char in[] = "password=hunter2XXXX";
    char out[64];
    size_t n;

    (void)state;
    assert_int_equal(tl__redact(r, NULL, in, 16, out, sizeof(out), &n), 1);
    assert_int_equal(n, strlen("password=" R));
    assert_memory_equal(out, "password=" R, n);
    tl__redactor_free(r);
}

static void lines(const tl__redactor_t *r, const char *const *in,
                  const char *const *want, size_t n)
{
    tl__redact_state_t st = {0};

    for (size_t k = 0; k < n; k++) {
        const char *got = red(r, &st, in[k], NULL);
        if (strcmp(got, want[k]) != 0)
            print_error("line %zu: %s\n", k, in[k]);
        assert_string_equal(got, want[k]);
    }
}

static void test_private_key_block(void **state)
{
    tl__redactor_t *r = builtin();
    static const char *const in[] = {
        "-----BEGIN RSA PRIVATE KEY-----",
        "Proc-Type: 4,ENCRYPTED",
        "DEK-Info: AES-128-CBC,3F17F5316E2BAC89",
        "",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "    VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
        "Lxoi+Ow=",
        "-----END RSA PRIVATE KEY-----",
        "Proc-Type: not in a block",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    };
    static const char *const want[] = {
        "-----BEGIN RSA PRIVATE KEY-----",
        R,
        R,
        "",
        R,
        ("    " R),
        R,
        "-----END RSA PRIVATE KEY-----",
        "Proc-Type: not in a block",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    };

    (void)state;
    lines(r, in, want, sizeof(in) / sizeof(in[0]));
    tl__redactor_free(r);
}

/* A key cut short: the first line that is not key material ends the block,
 * and is itself redacted as usual. */
static void test_private_key_cut_short(void **state)
{
    tl__redactor_t *r = builtin();
    static const char *const in[] = {
        "key: |",
        "  -----BEGIN OPENSSH PRIVATE KEY-----",
        "  b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz",
        "Error: connection reset, token=abc",
        "QUJD",
    };
    static const char *const want[] = {
        "key: |", "  -----BEGIN OPENSSH PRIVATE KEY-----",
        "  " R,   "Error: connection reset, token=" R,
        "QUJD",
    };

    (void)state;
    lines(r, in, want, sizeof(in) / sizeof(in[0]));
    tl__redactor_free(r);
}

/* The BEGIN marker as the value of a secret key, and the body after it on
 * the same line, still open a block. */
static void test_private_key_in_value(void **state)
{
    tl__redactor_t *r = builtin();
    static const char *const in[] = {
        "PRIVATE_KEY=-----BEGIN EC PRIVATE KEY----- MHcCAQEEIBYr",
        "AwEHoUQDQgAE",
        "-----END EC PRIVATE KEY----- token=x",
    };
    static const char *const want[] = {
        "PRIVATE_KEY=-----BEGIN EC PRIVATE KEY----- " R,
        R,
        "-----END EC PRIVATE KEY----- token=" R,
    };

    (void)state;
    lines(r, in, want, sizeof(in) / sizeof(in[0]));
    tl__redactor_free(r);
}

/* Without a state each line stands alone. */
/* A BEGIN marker inside what a matcher keeps (a scheme) still counts. */
static void test_private_key_after_scheme(void **state)
{
    tl__redactor_t *r = builtin();
    static const char *const in[] = {
        "Authorization: -----BEGIN RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "-----END RSA PRIVATE KEY-----",
    };
    static const char *const want[] = {
        ("Authorization: -----BEGIN " R),
        R,
        "-----END RSA PRIVATE KEY-----",
    };

    (void)state;
    lines(r, in, want, sizeof(in) / sizeof(in[0]));
    tl__redactor_free(r);
}

static void test_private_key_stateless(void **state)
{
    tl__redactor_t *r = builtin();

    (void)state;
    assert_string_equal(red(r, NULL, "-----BEGIN PRIVATE KEY-----", NULL),
                        "-----BEGIN PRIVATE KEY-----");
    assert_string_equal(red(r, NULL, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", NULL),
                        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    tl__redactor_free(r);
}

static void test_cap(void **state)
{
    tl__redactor_t *r = builtin();
    const char *in = "password=hunter2 rest";
    char out[64];
    size_t n;

    (void)state;
    memset(out, '#', sizeof(out));
    assert_int_equal(tl__redact(r, NULL, in, strlen(in), out, 12, &n), 1);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "password=[RE", 12);
    assert_int_equal(out[12], '#');

    assert_int_equal(tl__redact(r, NULL, in, strlen(in), NULL, 0, &n), 1);
    assert_int_equal(n, 0);

    memset(out, '#', sizeof(out));
    assert_int_equal(tl__redact(r, NULL, "plain line", 10, out, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "plain#", 6);

    /* exactly the size of the result */
    assert_int_equal(tl__redact(r, NULL, in, strlen(in), out, 24, &n), 1);
    assert_int_equal(n, 24);
    assert_memory_equal(out, "password=" R " rest", 24);
    tl__redactor_free(r);
}

/* More secrets than ranges: the rest of the line goes, nothing leaks. */
static void test_many_secrets(void **state)
{
    tl__redactor_t *r = builtin();
    char in[4096], *p = in;
    const char *got;

    (void)state;
    for (int k = 0; k < 100; k++)
        p += sprintf(p, "token=s%03d ", k);
    got = red(r, NULL, in, NULL);
    assert_null(strstr(got, "s0"));
    assert_null(strstr(got, "s099"));
    assert_non_null(strstr(got, "token=" R " token=" R));
    tl__redactor_free(r);
}

/* Nested assignments cost more than one pass: past a budget the rest of
 * the line goes, rather than quadratic time. */
static void test_nested(void **state)
{
    tl__redactor_t *r = builtin();
    char in[8192], *p = in;
    const char *got;

    (void)state;
    while (p + 7 < in + sizeof(in))
        p += sprintf(p, "token=");
    got = red(r, NULL, in, NULL);
    assert_string_equal(got, "token=" R);
    tl__redactor_free(r);
}

static void test_user_patterns(void **state)
{
    static const char *const extra[] = {"internal-[0-9]{4}", "session=(\\w+)",
                                        "(?i)x-(\\d+)?y", NULL};
    tl__redactor_t *r = NULL;
    char err[128];
    int count;

    (void)state;
    assert_int_equal(tl__redactor_new(extra, &r, err, sizeof(err)), 0);
    assert_string_equal(red(r, NULL, "id internal-1234 ok", &count),
                        "id " R " ok");
    assert_int_equal(count, 1);
    assert_string_equal(red(r, NULL, "session=abc; path=/", &count),
                        "session=" R "; path=/");
    assert_string_equal(
        red(r, NULL, "internal-1 internal-0001 internal-0002", &count),
        "internal-1 " R " " R);
    assert_int_equal(count, 2);
    /* group 1 unset: the whole match */
    assert_string_equal(red(r, NULL, "a X-Y b x-12y", NULL),
                        "a " R " b x-" R "y");
    /* with the built-ins, overlapping ranges merge */
    assert_string_equal(red(r, NULL, "password=internal-1234x", &count),
                        "password=" R);
    assert_int_equal(count, 1);
    assert_string_equal(red(r, NULL, "nothing here", &count), "nothing here");
    assert_int_equal(count, 0);
    tl__redactor_free(r);
}

static void test_bad_patterns(void **state)
{
    static const char *const bad[] = {"ok", "(abc", NULL};
    const char *many[TL__REDACT_PATTERNS_MAX + 2];
    char longp[TL__REDACT_PATTERN_MAX + 2];
    const char *toolong[] = {longp, NULL};
    tl__redactor_t *r = NULL;
    char err[128];

    (void)state;
    assert_int_equal(tl__redactor_new(bad, &r, err, sizeof(err)), TL_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err, "pattern 2"));
    assert_non_null(strstr(err, "missing closing parenthesis"));

    for (size_t k = 0; k < TL__REDACT_PATTERNS_MAX + 1; k++)
        many[k] = "x";
    many[TL__REDACT_PATTERNS_MAX + 1] = NULL;
    assert_int_equal(tl__redactor_new(many, &r, err, sizeof(err)), TL_EINVAL);
    assert_non_null(strstr(err, "too many patterns"));

    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(tl__redactor_new(toolong, &r, NULL, 0), TL_EINVAL);
    assert_null(r);
    tl__redactor_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_not_terminated),
        cmocka_unit_test(test_private_key_block),
        cmocka_unit_test(test_private_key_cut_short),
        cmocka_unit_test(test_private_key_in_value),
        cmocka_unit_test(test_private_key_after_scheme),
        cmocka_unit_test(test_private_key_stateless),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_many_secrets),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_user_patterns),
        cmocka_unit_test(test_bad_patterns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
