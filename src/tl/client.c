/*
 * client.c -- HTTP requests and SSE streams to the daemon over its unix
 * socket.
 *
 * DESIGN: a small HTTP/1.1 client of its own, for one peer only (our
 * daemon, on a local socket): libcurl and the TLS, LDAP and Kerberos
 * libraries it loads took 5 ms of every `tl` start, more than the rest of
 * `tl add` together. It speaks what the daemon answers: Content-Length,
 * chunked and close-delimited bodies. One connection per process is kept
 * alive, so consecutive requests (tl cancel 1 2 3) reuse it; a kept
 * connection the daemon closed meanwhile is dialled again once. Responses
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

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <tasklight.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_CAP (256u * 1024 * 1024)
#define REQUEST_TIMEOUT_MS 120000L
#define LINE_MAX_BYTES 16384

typedef struct transfer {
    cli_http_t *res;
    int streaming;      /* feed 2xx bodies to the SSE parser */
    int brief;          /* ask for the short answer (Prefer: return=minimal) */
    int checked_status; /* the status line was read */
    args_sse_t sse;
    cli_event_cb cb;
    void *ud;
    int stopped;    /* cb asked to stop */
    int bad_stream; /* the event stream broke a cap */
    int too_big;    /* the body broke RESPONSE_CAP */
} transfer_t;

/* ---- an HTTP/1.1 response, parsed as its bytes arrive ------------------- */

enum {
    P_STATUS,
    P_HEADERS,
    P_BODY_LEN,
    P_BODY_CLOSE, /* until the daemon closes the connection */
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_END,
    P_TRAILERS,
    P_DONE
};

typedef struct conn {
    int fd;
    int state;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    long long left; /* body or chunk bytes still to come */
    int chunked, has_length, server_closes;
    int got_bytes; /* any byte of the answer arrived */
    transfer_t *t;
} conn_t;

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

/* Body bytes: events for a 2xx stream, else kept for the caller. */
static int body_bytes(transfer_t *t, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (t->streaming && t->res->status / 100 == 2)
        return feed_events(t, p, n);
    return append_body(t, p, n);
}

static int header_line(conn_t *c, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "Content-Length") == 0) {
        char *end;
        c->left = strtoll(v, &end, 10);
        if (end == v || c->left < 0)
            return -1;
        c->has_length = 1;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        c->chunked = strstr(v, "chunked") != NULL;
    } else if (strcasecmp(line, "Connection") == 0) {
        c->server_closes = strcasecmp(v, "close") == 0;
    }
    return 0;
}

/* After the headers: where the body's end comes from. */
static void body_starts(conn_t *c)
{
    int st = (int)c->t->res->status;
    if (st == 204 || st == 304 || (st >= 100 && st < 200))
        c->state = P_DONE;
    else if (c->chunked)
        c->state = P_CHUNK_SIZE;
    else if (c->has_length)
        c->state = c->left ? P_BODY_LEN : P_DONE;
    else
        c->state = P_BODY_CLOSE;
}

static int line_done(conn_t *c)
{
    char *line = c->line;
    c->line[c->line_len] = '\0';
    c->line_len = 0;
    switch (c->state) {
    case P_STATUS:
        if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
            return -1;
        c->t->res->status = strtol(line + 9, NULL, 10);
        c->t->checked_status = 1;
        c->state = P_HEADERS;
        return 0;
    case P_HEADERS:
        if (*line == '\0') {
            body_starts(c);
            return 0;
        }
        return header_line(c, line);
    case P_CHUNK_SIZE: {
        char *end;
        c->left = strtoll(line, &end, 16);
        if (end == line || c->left < 0)
            return -1;
        c->state = c->left ? P_CHUNK_DATA : P_TRAILERS;
        return 0;
    }
    case P_CHUNK_END:
        c->state = P_CHUNK_SIZE;
        return *line ? -1 : 0;
    case P_TRAILERS:
        if (*line == '\0')
            c->state = P_DONE;
        return 0;
    }
    return -1;
}

static int in_line_state(int st)
{
    return st == P_STATUS || st == P_HEADERS || st == P_CHUNK_SIZE ||
           st == P_CHUNK_END || st == P_TRAILERS;
}

/* Takes n bytes of the answer. 1 when it is complete, 0 for more, -1 when
 * it is broken or the sink stopped it. */
static int parse(conn_t *c, const char *p, size_t n)
{
    c->got_bytes |= n > 0;
    while (n > 0 && c->state != P_DONE) {
        if (in_line_state(c->state)) {
            char ch = *p++;
            n--;
            if (ch == '\n') {
                if (c->line_len && c->line[c->line_len - 1] == '\r')
                    c->line_len--;
                if (line_done(c))
                    return -1;
            } else if (c->line_len + 1 >= sizeof(c->line)) {
                return -1;
            } else {
                c->line[c->line_len++] = ch;
            }
            continue;
        }
        size_t take = n;
        if (c->state != P_BODY_CLOSE && (long long)take > c->left)
            take = (size_t)c->left;
        if (body_bytes(c->t, p, take))
            return -1;
        p += take;
        n -= take;
        if (c->state == P_BODY_CLOSE)
            continue;
        c->left -= (long long)take;
        if (c->left == 0)
            c->state = c->state == P_CHUNK_DATA ? P_CHUNK_END : P_DONE;
    }
    return c->state == P_DONE;
}

/* ---- connections --------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(cli_t *cli, cli_http_t *res)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(cli->socket_path) >= sizeof(sa.sun_path)) {
        snprintf(res->errmsg, sizeof(res->errmsg), "socket path too long: %s",
                 cli->socket_path);
        return -1;
    }
    strcpy(sa.sun_path, cli->socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    int e = errno;
    if (fd >= 0)
        close(fd);
    res->connect_failed = 1;
    snprintf(res->errmsg, sizeof(res->errmsg),
             "no daemon answers at %s (%s); start one with 'tl serve'",
             cli->socket_path, strerror(e));
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_request(int fd, const char *method, const char *path,
                        const char *body, int streaming, int brief)
{
    size_t blen = body ? strlen(body) : 0;
    int has_body = body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
                   !strcmp(method, "PATCH");
    char length[64] = "";
    if (has_body)
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n", blen);
    char *head = cli_xasprintf(
        "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tl/" TL_VERSION
        "\r\nAccept: %s\r\n%s%s%s\r\n",
        method, path, streaming ? "text/event-stream" : "application/json",
        brief ? "Prefer: return=minimal\r\n" : "",
        body ? "Content-Type: application/json\r\n" : "", length);
    int rc = write_all(fd, head, strlen(head));
    free(head);
    return rc ? rc : write_all(fd, body ? body : "", blen);
}

static void conn_start(conn_t *c, int fd, transfer_t *t)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->t = t;
    c->state = P_STATUS;
}

/* Reads what is there (or waits up to wait_ms, -1: forever) and parses it:
 * 1 complete, 0 more to come, -1 broken or stopped, -2 timed out. */
static int pump(conn_t *c, int wait_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int r = poll(&pfd, 1, wait_ms);
    if (r < 0 && errno == EINTR)
        return 0;
    if (r == 0)
        return -2;
    char buf[65536];
    ssize_t got = read(c->fd, buf, sizeof(buf));
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (got <= 0) /* closed: the end of a close-delimited body, else lost */
        return c->state == P_BODY_CLOSE ? 1 : -1;
    return parse(c, buf, (size_t)got);
}

static int transport_error(cli_t *cli, transfer_t *t, int timed_out)
{
    cli_http_t *res = t->res;
    if (timed_out) {
        res->timed_out = 1;
        snprintf(res->errmsg, sizeof(res->errmsg), "timed out");
    } else if (t->too_big) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon's answer is over %u MiB", RESPONSE_CAP >> 20);
    } else if (t->bad_stream) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon sent a broken event stream");
    } else if (!res->connect_failed) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "lost the connection to the daemon at %s", cli->socket_path);
    }
    return CLI_UNREACHABLE;
}

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

static int finish(transfer_t *t)
{
    cli_http_t *res = t->res;
    if (res->body)
        res->json = json_loadb(res->body, res->len, 0, NULL);
    if (res->status / 100 == 2)
        return CLI_OK;
    http_error_message(res);
    return res->status == 404 ? CLI_NOT_FOUND : CLI_FAIL;
}

/* The kept-alive connection of this process, or -1. */
static int *kept_fd(cli_t *cli)
{
    static int none = -1;
    if (!cli->conn) {
        int *fd = cli_xcheck(malloc(sizeof(int)));
        *fd = -1;
        cli->conn = fd;
    }
    return cli->conn ? (int *)cli->conn : &none;
}

void cli_client_cleanup(cli_t *cli)
{
    int *fd = cli->conn;
    if (fd && *fd >= 0)
        close(*fd);
    free(fd);
    cli->conn = NULL;
}

/* One exchange on fd: 1 done, or as pump(). */
static int exchange(conn_t *c, int64_t deadline)
{
    for (;;) {
        int wait = deadline ? (int)(deadline - mono_ms()) : -1;
        if (deadline && wait <= 0)
            return -2;
        int r = pump(c, wait);
        if (r != 0)
            return r;
    }
}

static int perform(cli_t *cli, const char *method, const char *path,
                   const char *body, long timeout_ms, transfer_t *t)
{
    if (cli_resolve(cli)) {
        snprintf(t->res->errmsg, sizeof(t->res->errmsg),
                 "cannot find the daemon's socket");
        return CLI_USAGE;
    }
    int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
    int *kept = kept_fd(cli);
    conn_t c;
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = *kept >= 0 && !t->streaming;
        int fd = reused ? *kept : dial(cli, t->res);
        if (fd < 0)
            return CLI_UNREACHABLE;
        if (reused)
            *kept = -1;
        conn_start(&c, fd, t);
        int r = send_request(fd, method, path, body, t->streaming, t->brief);
        r = r ? -1 : exchange(&c, deadline);
        int keep =
            r == 1 && !c.server_closes && c.state == P_DONE && !t->streaming;
        if (keep)
            *kept = fd;
        else
            close(fd);
        /* A kept connection the daemon had closed: send again, once. */
        if (r == -1 && reused && !c.got_bytes)
            continue;
        if (r == 1 || (r == -1 && t->stopped))
            return finish(t);
        return transport_error(cli, t, r == -2);
    }
    return transport_error(cli, t, 0);
}

char *cli_url_escape(cli_t *cli, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = cli_xcheck(malloc(strlen(s) * 3 + 1)), *o = out;
    (void)cli;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static int request(cli_t *cli, const char *method, const char *path,
                   json_t *body, int brief, cli_http_t *res)
{
    transfer_t t = {.res = res, .brief = brief};
    char *text = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    if (body)
        text = cli_xcheck(json_dumps(body, JSON_COMPACT));
    rc = perform(cli, method, path, text, REQUEST_TIMEOUT_MS, &t);
    free(text);
    return rc;
}

int cli_http(cli_t *cli, const char *method, const char *path, json_t *body,
             cli_http_t *res)
{
    return request(cli, method, path, body, 0, res);
}

int cli_http_brief(cli_t *cli, const char *method, const char *path,
                   json_t *body, cli_http_t *res)
{
    return request(cli, method, path, body, 1, res);
}

void cli_http_free(cli_http_t *res)
{
    free(res->body);
    json_decref(res->json);
    memset(res, 0, sizeof(*res));
}

int cli_call(cli_t *cli, const char *method, const char *path, json_t *body,
             json_t **out)
{
    cli_http_t res;
    /* An answer nobody reads may as well be the short one. */
    int rc =
        request(cli, method, path, body, !out && strcmp(method, "GET"), &res);

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

/* ---- feeds: streams read from a UI loop with poll(2) --------------------- */

struct cli_feed {
    conn_t c;
    transfer_t t;
    cli_http_t res;
    int done, rc;
    struct cli_feed *next;
};

struct cli_feeds {
    cli_t *cli;
    cli_feed_t *list;
};

cli_feeds_t *cli_feeds_new(cli_t *cli)
{
    cli_feeds_t *fs = cli_xcheck(calloc(1, sizeof(*fs)));
    fs->cli = cli;
    return fs;
}

void cli_feeds_free(cli_feeds_t *fs)
{
    if (!fs)
        return;
    while (fs->list)
        cli_feed_close(fs, fs->list);
    free(fs);
}

static void feed_end(cli_t *cli, cli_feed_t *f, int r)
{
    f->done = 1;
    if (f->c.fd >= 0)
        close(f->c.fd);
    f->c.fd = -1;
    f->rc = r == 1 || (r == -1 && f->t.stopped)
                ? finish(&f->t)
                : transport_error(cli, &f->t, 0);
}

cli_feed_t *cli_feed_open(cli_feeds_t *fs, const char *path, cli_event_cb cb,
                          void *ud)
{
    cli_feed_t *f = cli_xcheck(calloc(1, sizeof(*f)));
    f->t = (transfer_t){.res = &f->res, .streaming = 1, .cb = cb, .ud = ud};
    args_sse_init(&f->t.sse, 0);
    f->next = fs->list;
    fs->list = f;
    f->c.fd = -1;
    if (cli_resolve(fs->cli)) {
        snprintf(f->res.errmsg, sizeof(f->res.errmsg),
                 "cannot find the daemon's socket");
        f->done = 1;
        f->rc = CLI_USAGE;
        return f;
    }
    int fd = dial(fs->cli, &f->res);
    conn_start(&f->c, fd, &f->t);
    if (fd < 0 || send_request(fd, "GET", path, NULL, 1, 0) != 0) {
        feed_end(fs->cli, f, -1);
        return f;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
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
    if (f->c.fd >= 0)
        close(f->c.fd);
    args_sse_free(&f->t.sse);
    cli_http_free(&f->res);
    free(f);
}

/* Reads everything a feed has until it would block. */
static void feed_read(cli_feeds_t *fs, cli_feed_t *f)
{
    for (;;) {
        int r = pump(&f->c, 0);
        if (r == -2)
            return; /* nothing more now */
        if (r != 0) {
            feed_end(fs->cli, f, r);
            return;
        }
    }
}

int cli_feeds_poll(cli_feeds_t *fs, int fd, int timeout_ms, int *fd_ready)
{
    struct pollfd pfds[64];
    cli_feed_t *owners[64];
    nfds_t n = 0;

    *fd_ready = 0;
    for (cli_feed_t *f = fs->list; f && n < 63; f = f->next) {
        if (!f->done && f->c.fd >= 0) {
            pfds[n] = (struct pollfd){.fd = f->c.fd, .events = POLLIN};
            owners[n++] = f;
        }
    }
    if (fd >= 0)
        pfds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    int r = poll(pfds, n, timeout_ms);
    if (r < 0 && errno != EINTR)
        return -1;
    for (nfds_t i = 0; r > 0 && i < n; i++) {
        if (!pfds[i].revents)
            continue;
        if (fd >= 0 && i == n - 1)
            *fd_ready = 1;
        else
            feed_read(fs, owners[i]);
    }
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
