/*
 * client.c -- HTTP requests and SSE streams to the daemon over its unix
 * socket, with libcurl.
 *
 * DESIGN: one easy handle per process, reset before each request, so
 * consecutive requests (tl cancel 1 2 3) reuse the connection. Responses
 * are read into a buffer capped at RESPONSE_CAP; streams are parsed as they
 * arrive by args_sse_next(), so a stream is never held in memory. A request
 * that could not connect is flagged (connect_failed): nothing was sent, so
 * `tl add` may start a daemon and send it again. A 404 answer is its own
 * exit code (CLI_NOT_FOUND), so scripts can tell "no such task" apart.
 *
 * Feeds (tl watch) are event streams on their own easy handles in one
 * multi handle, driven by cli_feeds_poll() from the UI loop, which also
 * waits on the terminal: one thread, and the UI never blocks on a stream.
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

/* Sets up handle c for one transfer; body_text may be NULL. Returns the
 * request headers (free them after the transfer), or NULL with
 * t->res->errmsg set when the socket cannot be found. errbuf must live
 * as long as the transfer. */
static struct curl_slist *setup(cli_t *cli, CURL *c, const char *method,
                                const char *path, const char *body_text,
                                long timeout_ms, transfer_t *t, char *errbuf)
{
    struct curl_slist *hdrs = NULL;
    char *url;

    if (cli_resolve(cli)) {
        snprintf(t->res->errmsg, sizeof(t->res->errmsg),
                 "cannot find the daemon's socket");
        return NULL;
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
    curl_easy_setopt(c, CURLOPT_URL, url); /* curl copies it */
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
    free(url);
    return hdrs;
}

/* Reads the outcome of a finished transfer into t->res: an exit code. */
static int finish(cli_t *cli, transfer_t *t, CURLcode cc, const char *errbuf)
{
    cli_http_t *res = t->res;
    int rc;

    curl_easy_setopt(t->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &res->status);
    if (cc == CURLE_WRITE_ERROR && t->stopped)
        cc = CURLE_OK;
    if (cc != CURLE_OK)
        return transport_error(cli, t, cc, errbuf);
    if (res->body)
        res->json = json_loadb(res->body, res->len, 0, NULL);
    if (res->status / 100 == 2)
        return CLI_OK;
    rc = res->status == 404 ? CLI_NOT_FOUND : CLI_FAIL;
    http_error_message(res);
    return rc;
}

/* Runs one transfer on the shared handle; body_text may be NULL. */
static int perform(cli_t *cli, const char *method, const char *path,
                   const char *body_text, long timeout_ms, transfer_t *t)
{
    CURL *c = handle(cli);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs;
    CURLcode cc;

    hdrs = setup(cli, c, method, path, body_text, timeout_ms, t, errbuf);
    if (!hdrs)
        return CLI_USAGE;
    cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    return finish(cli, t, cc, errbuf);
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

/* ---- event streams in a UI loop ---------------------------------------- */

struct cli_feed {
    CURL *curl;
    struct curl_slist *hdrs;
    transfer_t t;
    cli_http_t res;
    char errbuf[CURL_ERROR_SIZE];
    int done, rc;
    struct cli_feed *next;
};

struct cli_feeds {
    cli_t *cli;
    CURLM *multi;
    cli_feed_t *list;
};

cli_feeds_t *cli_feeds_new(cli_t *cli)
{
    cli_feeds_t *fs = cli_xcheck(calloc(1, sizeof(*fs)));

    fs->cli = cli;
    fs->multi = cli_xcheck(curl_multi_init());
    return fs;
}

void cli_feeds_free(cli_feeds_t *fs)
{
    if (!fs)
        return;
    while (fs->list)
        cli_feed_close(fs, fs->list);
    curl_multi_cleanup(fs->multi);
    free(fs);
}

cli_feed_t *cli_feed_open(cli_feeds_t *fs, const char *path, cli_event_cb cb,
                          void *ud)
{
    cli_feed_t *f = cli_xcheck(calloc(1, sizeof(*f)));

    f->t = (transfer_t){.res = &f->res, .streaming = 1, .cb = cb, .ud = ud};
    args_sse_init(&f->t.sse, 0);
    f->curl = cli_xcheck(curl_easy_init());
    f->next = fs->list;
    fs->list = f;
    f->hdrs = setup(fs->cli, f->curl, "GET", path, NULL, 0, &f->t, f->errbuf);
    if (!f->hdrs || curl_multi_add_handle(fs->multi, f->curl) != CURLM_OK) {
        if (f->hdrs)
            snprintf(f->res.errmsg, sizeof(f->res.errmsg),
                     "cannot start the event stream");
        f->done = 1;
        f->rc = f->hdrs ? CLI_FAIL : CLI_USAGE;
    }
    return f;
}

void cli_feed_close(cli_feeds_t *fs, cli_feed_t *f)
{
    cli_feed_t **p;

    if (!f)
        return;
    for (p = &fs->list; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    curl_multi_remove_handle(fs->multi, f->curl);
    curl_easy_cleanup(f->curl);
    curl_slist_free_all(f->hdrs);
    args_sse_free(&f->t.sse);
    cli_http_free(&f->res);
    free(f);
}

/* Marks the feeds whose transfer ended. */
static void reap_feeds(cli_feeds_t *fs)
{
    CURLMsg *msg;
    cli_feed_t *f;
    int left;

    while ((msg = curl_multi_info_read(fs->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (f = fs->list; f && f->curl != msg->easy_handle; f = f->next)
            ;
        if (!f || f->done)
            continue;
        f->rc = finish(fs->cli, &f->t, msg->data.result, f->errbuf);
        f->done = 1;
    }
}

int cli_feeds_poll(cli_feeds_t *fs, int fd, int timeout_ms, int *fd_ready)
{
    struct curl_waitfd extra = {.fd = fd, .events = CURL_WAIT_POLLIN};
    int running, n;

    *fd_ready = 0;
    if (curl_multi_perform(fs->multi, &running) != CURLM_OK)
        return -1;
    reap_feeds(fs);
    if (curl_multi_poll(fs->multi, fd >= 0 ? &extra : NULL, fd >= 0 ? 1 : 0,
                        timeout_ms, &n) != CURLM_OK)
        return -1;
    *fd_ready = fd >= 0 && (extra.revents & CURL_WAIT_POLLIN) != 0;
    if (curl_multi_perform(fs->multi, &running) != CURLM_OK)
        return -1;
    reap_feeds(fs);
    return 0;
}

int cli_feed_started(const cli_feed_t *f)
{
    return f->t.checked_status && f->res.status / 100 == 2;
}

int cli_feed_done(const cli_feed_t *f, int *rc, const char **errmsg)
{
    if (!f->done)
        return 0;
    *rc = f->rc;
    *errmsg = f->res.errmsg;
    return 1;
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
