/*
 * client.c -- HTTP requests and SSE streams to the daemon over its unix
 * socket, with libcurl.
 *
 * DESIGN: one easy handle per process, reset before each request, so
 * consecutive requests (tl cancel 1 2 3) reuse the connection. Responses
 * are read into a buffer capped at RESPONSE_CAP; streams are parsed as they
 * arrive by args_sse_next(), so a stream is never held in memory. A request
 * that could not connect is flagged (connect_failed): nothing was sent, so
 * `tl add` may start a daemon and send it again.
 */
#include "client.h"

#include <curl/curl.h>
#include <tasklight.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_CAP (256u * 1024 * 1024)
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 120000L

typedef struct transfer {
    cli_http_t *res;
    CURL *curl;
    int streaming;      /* feed 2xx bodies to the SSE parser */
    int checked_status; /* the status was read at the first body bytes */
    args_sse_t sse;
    cli_event_cb cb;
    void *ud;
    int stopped;    /* cb asked to stop */
    int bad_stream; /* the event stream broke a cap */
    int too_big;    /* the body broke RESPONSE_CAP */
} transfer_t;

static CURL *handle(cli_t *cli)
{
    if (!cli->curl)
        cli->curl = cli_xcheck(curl_easy_init());
    return cli->curl;
}

void cli_client_cleanup(cli_t *cli)
{
    if (cli->curl)
        curl_easy_cleanup(cli->curl);
    cli->curl = NULL;
}

char *cli_url_escape(cli_t *cli, const char *s)
{
    char *e = cli_xcheck(curl_easy_escape(handle(cli), s, 0));
    char *copy = cli_xstrdup(e);

    curl_free(e);
    return copy;
}

static int append_body(transfer_t *t, const char *ptr, size_t n)
{
    cli_http_t *res = t->res;

    if (res->len + n > RESPONSE_CAP) {
        t->too_big = 1;
        return -1;
    }
    res->body = cli_xcheck(realloc(res->body, res->len + n + 1));
    memcpy(res->body + res->len, ptr, n);
    res->len += n;
    res->body[res->len] = '\0';
    return 0;
}

static int feed_events(transfer_t *t, const char *ptr, size_t n)
{
    args_sse_event_t ev;
    int r;

    while ((r = args_sse_next(&t->sse, &ptr, &n, &ev)) == 1) {
        if (t->cb(&ev, t->ud)) {
            t->stopped = 1;
            return -1;
        }
    }
    if (r < 0) {
        t->bad_stream = 1;
        return -1;
    }
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    transfer_t *t = ud;
    size_t n = size * nmemb;

    if (!t->checked_status) {
        t->checked_status = 1;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->res->status);
    }
    if (t->streaming && t->res->status / 100 == 2) {
        if (feed_events(t, ptr, n))
            return 0; /* aborts the transfer */
        return n;
    }
    return append_body(t, ptr, n) ? 0 : n;
}

/* Fills res->errmsg from an error answer's {"error": {"message": ...}}. */
static void http_error_message(cli_http_t *res)
{
    json_t *err = res->json ? json_object_get(res->json, "error") : NULL;
    const char *msg = cli_json_str(err, "message");

    if (msg && *msg)
        snprintf(res->errmsg, sizeof(res->errmsg), "%s", msg);
    else
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon answered HTTP %ld", res->status);
}

static int transport_error(cli_t *cli, transfer_t *t, CURLcode cc,
                           const char *curl_msg)
{
    cli_http_t *res = t->res;
    long os_errno = 0;

    if (cc == CURLE_OPERATION_TIMEDOUT) {
        res->timed_out = 1;
        snprintf(res->errmsg, sizeof(res->errmsg), "timed out");
    } else if (t->too_big) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon's answer is over %u MiB", RESPONSE_CAP >> 20);
    } else if (t->bad_stream) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon sent a broken event stream");
    } else if (cc == CURLE_COULDNT_CONNECT) {
        res->connect_failed = 1;
        curl_easy_getinfo(t->curl, CURLINFO_OS_ERRNO, &os_errno);
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "no daemon answers at %s (%s); start one with 'tl serve'",
                 cli->socket_path,
                 os_errno ? strerror((int)os_errno) : "cannot connect");
    } else if (cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR ||
               cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "lost the connection to the daemon at %s", cli->socket_path);
    } else {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "cannot talk to the daemon at %s: %s", cli->socket_path,
                 curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
    }
    return CLI_UNREACHABLE;
}

/* Runs one transfer on the shared handle; body_text may be NULL. */
static int perform(cli_t *cli, const char *method, const char *path,
                   const char *body_text, long timeout_ms, transfer_t *t)
{
    CURL *c = handle(cli);
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url;
    CURLcode cc;
    int rc;

    if (cli_resolve(cli)) {
        snprintf(t->res->errmsg, sizeof(t->res->errmsg),
                 "cannot find the daemon's socket");
        return CLI_USAGE;
    }
    url = cli_xasprintf("http://localhost%s", path);
    curl_easy_reset(c);
    t->curl = c;
    hdrs = curl_slist_append(hdrs, t->streaming ? "Accept: text/event-stream"
                                                : "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue wait */
    if (body_text)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    cli_xcheck(hdrs);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tl/" TL_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body_text) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body_text));
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    free(url);

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t->res->status);
    if (cc == CURLE_WRITE_ERROR && t->stopped)
        cc = CURLE_OK;
    if (cc != CURLE_OK)
        return transport_error(cli, t, cc, errbuf);
    if (t->res->body)
        t->res->json = json_loadb(t->res->body, t->res->len, 0, NULL);
    rc = t->res->status / 100 == 2 ? CLI_OK : CLI_FAIL;
    if (rc)
        http_error_message(t->res);
    return rc;
}

int cli_http(cli_t *cli, const char *method, const char *path, json_t *body,
             cli_http_t *res)
{
    transfer_t t = {.res = res};
    char *text = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if (body)
        text = cli_xcheck(json_dumps(body, JSON_COMPACT));
    rc = perform(cli, method, path, text, REQUEST_TIMEOUT_MS, &t);
    free(text);
    return rc;
}

void cli_http_free(cli_http_t *res)
{
    free(res->body);
    json_decref(res->json);
    res->body = NULL;
    res->json = NULL;
}

int cli_call(cli_t *cli, const char *method, const char *path, json_t *body,
             json_t **out)
{
    cli_http_t res;
    int rc = cli_http(cli, method, path, body, &res);

    if (rc == CLI_OK && !res.json) {
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "the daemon's answer is not JSON");
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK && out) {
        *out = res.json;
        res.json = NULL;
    } else if (rc != CLI_OK && rc != CLI_USAGE) {
        cli_error(rc, "%s", res.errmsg);
    }
    cli_http_free(&res);
    return rc;
}

int cli_stream(cli_t *cli, const char *path, double timeout_s, cli_event_cb cb,
               void *ud, cli_http_t *res)
{
    transfer_t t = {.res = res, .streaming = 1, .cb = cb, .ud = ud};
    long timeout_ms = 0; /* none */
    int rc;

    memset(res, 0, sizeof(*res));
    if (timeout_s > 0)
        timeout_ms = timeout_s * 1000 < 1 ? 1 : (long)(timeout_s * 1000);
    args_sse_init(&t.sse, 0);
    rc = perform(cli, "GET", path, NULL, timeout_ms, &t);
    args_sse_free(&t.sse);
    return rc;
}

/* ---- JSON helpers ----------------------------------------------------- */

const char *cli_json_str(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t cli_json_int(const json_t *obj, const char *key, int64_t dflt)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return dflt;
}

int cli_json_num(const json_t *obj, const char *key, double *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;

    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

void cli_print_json(const json_t *v)
{
    char *text = cli_xcheck(json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY));

    printf("%s\n", text);
    free(text);
}
