/*
 * fuzz_sse.c -- libFuzzer target for resuming the event stream: the
 * Last-Event-ID header (and ?last_event_id=), the filters of /api/events
 * (?kind= &group= &task= &type=) and the replay ring behind them, on the
 * real server in-process (fuzz_server.c).
 *
 * Input: [events][flags] LAST-EVENT-ID "\n" QUERY. Before the request the
 * harness appends `events` log lines to task 1, one event each, so the ring
 * fills, wraps (8192 events) and the replay floor moves. Every '@' in
 * LAST-EVENT-ID becomes this server's epoch, so the fuzzer can write ids
 * the server issued ("@-12"); CR, LF and NUL are dropped from it. QUERY is
 * percent-encoded where it would break the request line. flags bit 0 sends
 * the id as ?last_event_id= instead of the header.
 *
 * Checks: the answer is a stream (200) that opens with `hello` or `reset`,
 * or a JSON 400; never 429 (a stream this harness closed was not let go)
 * or 5xx. The ids of this epoch in a stream rise strictly, and after a
 * resume from SEQ (hello with "resumed": true) every replayed id is above
 * SEQ.
 */
#include "fuzz_server.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_events(unsigned n)
{
    if (!n)
        return;
    char body[4096];
    size_t k = (size_t)snprintf(body, sizeof(body), "{\"lines\":[");
    for (unsigned i = 0; i < n; i++)
        k += (size_t)snprintf(body + k, sizeof(body) - k, "%s\"e%u\"",
                              i ? "," : "", i);
    k += (size_t)snprintf(body + k, sizeof(body) - k, "]}");
    size_t len;
    fs_response_t r;
    char *req = fs_request("POST /api/tasks/1/logs", "", body, k, &len);
    fs_exchange(0, req, len, &r);
    if (r.status != 200)
        fs_fail("appending log lines failed", req, len, &r);
    free(req);
}

static void pct(char **o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    *(*o)++ = '%';
    *(*o)++ = hex[c >> 4];
    *(*o)++ = hex[c & 15];
}

/* ids "EPOCH-SEQ" in the stream rise; after a resume from `from`, they
 * are above it. */
static void check_ids(const fs_response_t *r, const char *req, size_t len,
                      const char *epoch)
{
    size_t el = strlen(epoch);
    uint64_t last = 0, from = 0;
    int have = 0;
    const char *b = r->body, *end = r->body + r->body_len;
    const char *hello = strstr(b, "event: hello\ndata: ");
    if (hello && strstr(hello, "\"resumed\":true")) {
        const char *f = strstr(hello, "\"from\":");
        if (f)
            from = strtoull(f + 7, NULL, 10);
    }
    for (const char *p = b; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > 4 + el && memcmp(p, "id: ", 4) == 0 &&
            memcmp(p + 4, epoch, el) == 0 && p[4 + el] == '-') {
            uint64_t seq = strtoull(p + 5 + el, NULL, 10);
            if (have && seq <= last)
                fs_fail("event ids do not rise", req, len, r);
            if (from && seq <= from && !memmem(p, (size_t)(end - p),
                                               "event: reset", 12))
                fs_fail("a resumed stream replays an event at or before "
                        "its Last-Event-ID",
                        req, len, r);
            last = seq;
            have = 1;
        }
        p = eol + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fs_start();
    fs_tick();
    const char *epoch = fs_epoch();
    add_events(data[0] % 128);
    int in_query = data[1] & 1;
    const char *p = (const char *)data + 2, *end = (const char *)data + size;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *id_end = nl ? nl : end;
    const char *q = nl ? nl + 1 : end;

    size_t el = strlen(epoch), idn = (size_t)(id_end - p);
    char *id = malloc(idn * (el + 3) + 1);
    char *target = malloc(32 + 3 * (size_t)(end - q) + idn * 3 * (el + 3));
    char *hdr = malloc(idn * (el + 3) + 32);
    if (!id || !target || !hdr)
        abort();
    size_t k = 0;
    for (const char *s = p; s < id_end; s++) {
        if (*s == '@') {
            memcpy(id + k, epoch, el);
            k += el;
        } else if (*s != '\r' && *s != '\0') {
            id[k++] = *s;
        }
    }
    id[k] = '\0';

    char *o = target + sprintf(target, "GET /api/events?");
    for (const char *s = q; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '#')
            pct(&o, c);
        else
            *o++ = (char)c;
    }
    if (in_query) {
        o += sprintf(o, "&last_event_id=");
        for (size_t i = 0; i < k; i++) {
            unsigned char c = (unsigned char)id[i];
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                (c >= 'A' && c <= 'Z') || c == '-')
                *o++ = (char)c;
            else
                pct(&o, c);
        }
        hdr[0] = '\0';
    } else {
        sprintf(hdr, "Last-Event-ID: %s\r\n", id);
    }
    *o = '\0';

    size_t len;
    fs_response_t r;
    char *req = fs_request(target, hdr, "", 0, &len);
    fs_exchange(0, req, len, &r);
    if (r.status == 200) {
        if (!r.sse)
            fs_fail("a 200 of /api/events that is not a stream", req, len,
                    &r);
        if (!r.body || (!strstr(r.body, "event: hello\n") &&
                        !strstr(r.body, "event: reset\n")))
            fs_fail("a stream that opens with neither hello nor reset", req,
                    len, &r);
        check_ids(&r, req, len, epoch);
    } else if (r.status == 400) {
        if (r.whole)
            fs_check_error_body(&r, req, len);
    } else if (r.status != 0 && r.status != 413) {
        /* 413: the header block over its cap, said by evhttp */
        fs_fail("unexpected status for /api/events", req, len, &r);
    }
    free(req);
    free(id);
    free(target);
    free(hdr);
    return 0;
}
