/*
 * fuzz_http.c -- libFuzzer target for the HTTP API as a client sees it: the
 * request parser (libevent's evhttp), the routes of api.c, the JSON decoder
 * of every request body, query strings, auth (token, cookie, origin) and
 * the error answers. The real server runs in-process (fuzz_server.c) and
 * each input goes to it over a real connection.
 *
 * Why through a socket rather than calling tl__api_route() with a fake
 * request: a route answers through evhttp_send_reply() on the request's
 * connection, and requests that change something answer only after the
 * loop turn's commit; a request without a connection is freed unanswered,
 * so the answer could not be checked. Over a socket every layer is the
 * one the daemon runs, and an input costs one connection and a few
 * non-blocking loop turns (thousands per second).
 *
 * Input: byte 0 chooses the door (bit 1: TCP behind the token, else the
 * unix socket) and the framing (bit 0):
 *   framed (bit 0 clear): "METHOD TARGET\nHeader: v\n...\n\nBODY". The
 *     harness writes a well-formed HTTP/1.1 request of it (CRLF, Host,
 *     Content-Length, Connection: close; CR and NUL are dropped from the
 *     head, framing headers the input gives are ignored), so the fuzzer
 *     spends its time on targets, queries and bodies;
 *   raw (bit 0 set): the rest of the input is sent as it is.
 * Checks beyond the sanitizers: a framed request gets an answer; no answer
 * is a 500 (the library's "should not happen"); an answer to HEAD has no
 * body; a JSON answer parses, and a JSON error is {"error": {"code",
 * "message"}}.
 *
 *   make fuzz-build && build/fuzz/fuzz_http tests/fuzz/corpus/fuzz_http \
 *       -dict=tests/fuzz/http.dict
 */
#include "fuzz_server.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int framing_header(const char *line, size_t n)
{
    static const char *const names[] = {"content-length:",
                                        "transfer-encoding:", "connection:",
                                        "expect:", "host:"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t k = strlen(names[i]);
        if (n >= k && strncasecmp(line, names[i], k) == 0)
            return 1;
    }
    return 0;
}

/* The framed request of p[0..n); malloc'd. */
static char *frame(const char *p, size_t n, size_t *len)
{
    const char *split = memmem(p, n, "\n\n", 2);
    size_t head_len, skip;
    if (split) {
        head_len = (size_t)(split - p);
        skip = 2;
    } else {
        const char *nl = memchr(p, '\n', n);
        head_len = nl ? (size_t)(nl - p) : n;
        skip = nl ? 1 : 0;
    }
    const char *body = p + head_len + skip;
    size_t body_len = n - head_len - skip;

    /* The head without CR and NUL; its first line is the request line. */
    char *head = malloc(head_len + 1);
    char *hdrs = malloc(2 * head_len + 3);
    char *line = malloc(head_len + 8);
    if (!head || !hdrs || !line)
        abort();
    size_t h = 0;
    for (size_t i = 0; i < head_len; i++)
        if (p[i] != '\r' && p[i] != '\0')
            head[h++] = p[i];
    head[h] = '\0';
    char *eol = strchr(head, '\n');
    char *rest = eol ? eol + 1 : head + h;
    if (eol)
        *eol = '\0';
    if (strchr(head, ' '))
        strcpy(line, head);
    else
        snprintf(line, head_len + 8, "GET %s", head);

    size_t k = 0;
    hdrs[0] = '\0';
    while (*rest) {
        char *e = strchr(rest, '\n');
        size_t ln = e ? (size_t)(e - rest) : strlen(rest);
        if (ln && memchr(rest, ':', ln) && !framing_header(rest, ln)) {
            memcpy(hdrs + k, rest, ln);
            k += ln;
            hdrs[k++] = '\r';
            hdrs[k++] = '\n';
        }
        rest += ln + (e != NULL);
    }
    hdrs[k] = '\0';
    char *req = fs_request(line, hdrs, body, body_len, len);
    free(head);
    free(hdrs);
    free(line);
    return req;
}

static void check(const fs_response_t *r, const char *req, size_t len,
                  int framed)
{
    if (framed && r->status == 0)
        fs_fail("no answer to a well-formed request", req, len, r);
    if (r->status == 500)
        fs_fail("the server answered 500", req, len, r);
    /* An answer to HEAD has no body (RFC 9110 9.3.2). Checked on the
     * daemon's (JSON) answers: a request line evhttp cannot parse is not
     * known to be HEAD, and evhttp's own error pages are not ours. */
    int head = len >= 5 && memcmp(req, "HEAD ", 5) == 0;
    if (framed && head && r->json && r->whole && r->body_len)
        fs_fail("an answer to HEAD carries a body", req, len, r);
    if (!r->json || !r->body || r->len == 0 || head)
        return;
    /* A JSON answer that arrived whole parses. */
    if (!r->whole)
        return;
    if (r->status >= 400) {
        fs_check_error_body(r, req, len);
    } else {
        json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
        if (!j)
            fs_fail("a JSON answer does not parse", req, len, r);
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fs_start();
    fs_tick();
    int tcp = (data[0] & 2) != 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    fs_response_t r;
    if (data[0] & 1) {
        fs_exchange(tcp, p, n, &r);
        check(&r, p, n, 0);
    } else {
        size_t len;
        char *req = frame(p, n, &len);
        fs_exchange(tcp, req, len, &r);
        check(&r, req, len, 1);
        free(req);
    }
    return 0;
}
