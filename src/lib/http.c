/*
 * http.c -- the HTTP server: a unix-socket listener (trusted: file mode
 * 0600 is the access control) and a TCP listener behind a token, request
 * limits, JSON replies, and Server-Sent Events.
 *
 * DESIGN: libevent's evhttp parses requests on the manager's loop. Each
 * listener has its own evhttp, so "which door did this come in by" is a
 * property of the evhttp, not of a header a client could forge. Replies to
 * requests that changed something wait for the turn's commit
 * (tl__http_reply_committed): nothing is acknowledged before it is durable.
 * SSE clients are a list fed by one manager subscription; a client whose
 * unsent output passes a cap is dropped, so a slow reader never holds the
 * daemon's memory or time. Bodies are capped (1 MiB; evhttp itself refuses
 * a declared length over 8 MiB before reading it), JSON depth is capped,
 * and idle connections time out.
 */
#include "http.h"
#include "util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SSE_MAX_CLIENTS 256
#define SSE_MAX_PENDING (4 << 20)
#define SSE_PING_S 15
#define HTTP_HARD_MAX_BODY (8 << 20)
#define HTTP_MAX_HEADERS (64 << 10)
#define HTTP_TIMEOUT_S 60

typedef struct door {
    tl_server_t *server;
    struct evhttp *http;
    bool trusted;
} door_t;

typedef struct sse_client {
    tl_server_t *server;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    int64_t task_id; /* 0: all */
    struct sse_client *next;
} sse_client_t;

struct tl_server {
    tl_manager_t *m;
    door_t unix_door, tcp_door;
    char *socket_path;
    char *token;
    int port;
    uint64_t sub;
    sse_client_t *clients;
    int nclients;
    struct event *ping_ev;
};

/* ---- replies ------------------------------------------------------------ */

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Cache-Control", "no-store");
    if (text) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
    }
    free(text);
    evhttp_send_reply(req, status, NULL, NULL);
}

static json_t *error_json(const char *code, const char *msg)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
                     msg);
}

void tl__http_reply_json(tl__http_req_t *r, int status, json_t *body)
{
    send_json(r->req, status, body);
}

void tl__http_reply_errorf(tl__http_req_t *r, int status, const char *code,
                           const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_json(r->req, status, error_json(code, msg));
}

void tl__http_reply_error(tl__http_req_t *r, int rc)
{
    send_json(r->req, tl_err_http_status(rc),
              error_json(tl_err_name(rc), tl_manager_errmsg(r->m)));
}

typedef struct pending_reply {
    struct evhttp_request *req;
    int status;
    json_t *body;
    tl_manager_t *m;
} pending_reply_t;

static void send_committed(void *ud, int rc)
{
    pending_reply_t *p = ud;
    if (rc) {
        json_decref(p->body);
        p->body = error_json(tl_err_name(rc), tl_manager_errmsg(p->m));
        p->status = tl_err_http_status(rc);
    }
    send_json(p->req, p->status, p->body);
    free(p);
}

void tl__http_reply_committed(tl__http_req_t *r, int status, json_t *body)
{
    pending_reply_t *p = malloc(sizeof(*p));
    if (!p) {
        json_decref(body);
        send_json(r->req, 500, error_json("out_of_memory", "out of memory"));
        return;
    }
    *p = (pending_reply_t){r->req, status, body, r->m};
    tl__mgr_after_commit(r->m, send_committed, p);
}

/* ---- bodies and queries ------------------------------------------------- */

static int depth_ok(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > TL__HTTP_MAX_DEPTH)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

json_t *tl__http_body_json(tl__http_req_t *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    if (n > TL__HTTP_MAX_BODY) {
        tl__http_reply_errorf(r, 413, "too_large",
                              "body of %zu bytes is over the limit of %d",
                              n, TL__HTTP_MAX_BODY);
        return NULL;
    }
    const char *s = (const char *)evbuffer_pullup(in, -1);
    if (!depth_ok(s ? s : "", n)) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "JSON nested deeper than %d",
                              TL__HTTP_MAX_DEPTH);
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb(s ? s : "", n, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "invalid JSON at line %d column %d: %s",
                              err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        tl__http_reply_errorf(r, 400, "bad_request",
                              "the body must be a JSON object");
        return NULL;
    }
    return j;
}

const char *tl__http_query(tl__http_req_t *r, const char *name)
{
    return r->has_query ? evhttp_find_header(&r->query, name) : NULL;
}

/* ---- auth --------------------------------------------------------------- */

static bool token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return false;
    volatile unsigned char diff = 0; /* constant time: no early exit */
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static const char *cookie_token(struct evkeyvalq *h)
{
    const char *c = evhttp_find_header(h, "Cookie");
    static char buf[256];
    for (const char *p = c; p && (p = strstr(p, "tl_token=")); p++) {
        if (p != c && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += 9;
        size_t n = strcspn(p, ";");
        if (n >= sizeof(buf))
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

/* A cookie is sent by the browser on its own: a state change carried only
 * by the cookie must come from our own origin (no CSRF). */
static bool same_origin(struct evkeyvalq *h)
{
    const char *origin = evhttp_find_header(h, "Origin");
    const char *host = evhttp_find_header(h, "Host");
    if (!origin || !host)
        return false;
    return strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

static void redirect_with_cookie(tl__http_req_t *r)
{
    char cookie[400];
    snprintf(cookie, sizeof(cookie),
             "tl_token=%s; HttpOnly; SameSite=Strict; Path=/",
             r->server->token);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "Set-Cookie", cookie);
    evhttp_add_header(out, "Location", "/");
    evhttp_send_reply(r->req, 303, "See Other", NULL);
}

/* Returns true when the request may go on; else it has been answered. */
static bool authorize(tl__http_req_t *r, bool trusted)
{
    if (trusted)
        return true;
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    const char *tok = tl__http_query(r, "token");
    if (tok && token_eq(tok, r->server->token) && r->nparts == 0) {
        redirect_with_cookie(r);
        return false;
    }
    const char *auth = evhttp_find_header(h, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
        token_eq(auth + 7, r->server->token))
        return true;
    const char *c = cookie_token(h);
    if (c && token_eq(c, r->server->token)) {
        if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD ||
            same_origin(h))
            return true;
        tl__http_reply_errorf(r, 403, "forbidden",
                              "cross-origin request refused");
        return false;
    }
    if (r->nparts == 1 && strcmp(r->parts[0], "healthz") == 0)
        return true;
    tl__http_reply_errorf(r, 401, "unauthorized",
                          "a valid token is required (Authorization: "
                          "Bearer TOKEN)");
    return false;
}

/* ---- dispatch ----------------------------------------------------------- */

static int split_path(tl__http_req_t *r)
{
    const char *uri = evhttp_request_get_uri(r->req);
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(uri, 0);
    if (!u)
        return -1;
    const char *q = evhttp_uri_get_query(u);
    if (q) {
        r->query.tqh_first = NULL;
        r->query.tqh_last = &r->query.tqh_first;
        if (evhttp_parse_query_str(q, &r->query) != 0) {
            evhttp_uri_free(u);
            return -1;
        }
        r->has_query = true;
    }
    const char *p = evhttp_uri_get_path(u);
    r->path = evhttp_uridecode(p && *p ? p : "/", 0, NULL);
    evhttp_uri_free(u);
    if (!r->path || strlen(r->path) != strcspn(r->path, "\r\n"))
        return -1;
    for (char *s = strtok(r->path, "/"); s; s = strtok(NULL, "/")) {
        if (r->nparts == TL__HTTP_MAX_PATH_PARTS)
            return -1;
        r->parts[r->nparts++] = s;
    }
    return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    door_t *door = arg;
    tl__http_req_t r = {.req = req,
                        .server = door->server,
                        .m = door->server->m,
                        .method = evhttp_request_get_command(req)};
    if (split_path(&r) != 0) {
        tl__http_reply_errorf(&r, 400, "bad_request", "malformed URI");
    } else if (authorize(&r, door->trusted)) {
        tl__api_route(&r);
    }
    if (r.has_query)
        evhttp_clear_headers(&r.query);
    free(r.path);
}

/* ---- SSE ---------------------------------------------------------------- */

static void sse_remove(sse_client_t *c)
{
    tl_server_t *s = c->server;
    for (sse_client_t **p = &s->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            s->nclients--;
            break;
        }
    }
    free(c);
}

static void sse_on_close(struct evhttp_connection *conn, void *arg)
{
    sse_remove(arg);
}

static void sse_end(sse_client_t *c)
{
    evhttp_connection_set_closecb(c->conn, NULL, NULL);
    evhttp_send_reply_end(c->req);
    sse_remove(c);
}

static bool sse_too_slow(sse_client_t *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    return evbuffer_get_length(bufferevent_get_output(bev)) > SSE_MAX_PENDING;
}

static void sse_frame(struct evbuffer *b, uint64_t seq, const char *type,
                      const char *data)
{
    if (seq)
        evbuffer_add_printf(b, "id: %llu\n", (unsigned long long)seq);
    evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", type, data);
}

static void sse_send(sse_client_t *c, uint64_t seq, const char *type,
                     const char *data)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    sse_frame(b, seq, type, data);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

static bool is_final_event(const char *type)
{
    return strcmp(type, "task.completed") == 0 ||
           strcmp(type, "task.failed") == 0 ||
           strcmp(type, "task.cancelled") == 0 ||
           strcmp(type, "task.deleted") == 0;
}

static void on_event(const tl_event_t *ev, void *ud)
{
    tl_server_t *s = ud;
    for (sse_client_t *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->task_id && c->task_id != ev->task_id)
            continue;
        if (sse_too_slow(c)) {
            evhttp_connection_free(c->conn); /* closecb removes c */
            continue;
        }
        sse_send(c, ev->seq, ev->type, ev->data_json);
        if (c->task_id && is_final_event(ev->type))
            sse_end(c);
    }
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    tl_server_t *s = arg;
    struct evbuffer *b = evbuffer_new();
    for (sse_client_t *c = s->clients; b && c; c = c->next) {
        evbuffer_add(b, ": ping\n\n", 8);
        evhttp_send_reply_chunk(c->req, b);
    }
    if (b)
        evbuffer_free(b);
}

static void frame_logs(struct evbuffer *b, tl_manager_t *m, int64_t id,
                       long tail)
{
    json_t *logs;
    if (tail <= 0 || tl__mgr_logs_json(m, id, tail, &logs) != 0)
        return;
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(logs, "lines"), i, line)
    {
        json_object_set_new(line, "task_id", json_integer(id));
        char *text = json_dumps(line, JSON_COMPACT);
        if (text)
            sse_frame(b, 0, "task.log", text);
        free(text);
    }
    json_decref(logs);
}

/* The first frames of a stream: a comment, and for one task its snapshot and
 * log tail. *final says the task has ended already. */
static int first_frames(tl__http_req_t *r, int64_t task_id, long log_tail,
                        struct evbuffer *b, bool *final)
{
    *final = false;
    evbuffer_add_printf(b, ": tasklight\n\n"); /* a comment, not an event */
    if (!task_id)
        return 0;
    json_t *snap;
    int rc = tl__mgr_task_json(r->m, task_id, &snap);
    if (rc)
        return rc;
    tl_state_t state;
    const char *st = json_string_value(json_object_get(snap, "state"));
    *final = tl_state_parse(st, &state) == 0 && tl_state_is_final(state);
    char *text = json_dumps(snap, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(snap);
    if (!text)
        return TL_ENOMEM;
    sse_frame(b, 0, "task.snapshot", text);
    free(text);
    frame_logs(b, r->m, task_id, log_tail);
    return 0;
}

/* A stream ends with its connection: clients read to the end. */
static void sse_headers(tl__http_req_t *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
}

int tl__sse_start(tl__http_req_t *r, int64_t task_id, long log_tail)
{
    tl_server_t *s = r->server;
    bool final;
    struct evbuffer *b = evbuffer_new();
    int rc = b ? first_frames(r, task_id, log_tail, b, &final) : TL_ENOMEM;
    if (rc) {
        tl__http_reply_error(r, rc);
    } else if (final) { /* nothing will follow: one plain answer */
        sse_headers(r);
        evhttp_send_reply(r->req, 200, "OK", b);
    } else if (s->nclients >= SSE_MAX_CLIENTS) {
        rc = TL_ELIMIT;
        tl__http_reply_errorf(r, 429, "limit_reached",
                              "too many event streams (%d)",
                              SSE_MAX_CLIENTS);
    } else {
        sse_client_t *c = calloc(1, sizeof(*c));
        if (!c) {
            rc = TL_ENOMEM;
            tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
        } else {
            *c = (sse_client_t){s, r->req,
                                evhttp_request_get_connection(r->req),
                                task_id, s->clients};
            s->clients = c;
            s->nclients++;
            sse_headers(r);
            evhttp_connection_set_timeout(c->conn, 24 * 3600);
            evhttp_send_reply_start(r->req, 200, "OK");
            evhttp_connection_set_closecb(c->conn, sse_on_close, c);
            evhttp_send_reply_chunk(r->req, b);
        }
    }
    if (b)
        evbuffer_free(b);
    return rc;
}

/* ---- listeners ---------------------------------------------------------- */

static int setup_http(tl_server_t *s, door_t *d, bool trusted)
{
    d->server = s;
    d->trusted = trusted;
    d->http = evhttp_new(s->m->base);
    if (!d->http)
        return TL_ENOMEM;
    evhttp_set_max_body_size(d->http, HTTP_HARD_MAX_BODY);
    evhttp_set_max_headers_size(d->http, HTTP_MAX_HEADERS);
    evhttp_set_timeout(d->http, HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(d->http, on_request, d);
    return 0;
}

/* A socket file left by a dead daemon is removed; the data-dir lock says
 * no live daemon of ours owns it. */
static int bind_unix(tl_server_t *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(s->socket_path) >= sizeof(sa.sun_path))
        return tl__mgr_error(s->m, TL_EINVAL, "socket path too long: %s",
                             s->socket_path);
    strcpy(sa.sun_path, s->socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return tl__mgr_error(s->m, TL_EIO, "socket: %s", strerror(errno));
    unlink(s->socket_path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc == 0)
        rc = chmod(s->socket_path, 0600);
    if (rc != 0 || listen(fd, 511) != 0) {
        close(fd);
        return tl__mgr_error(s->m, TL_EIO, "cannot listen on %s: %s",
                             s->socket_path, strerror(errno));
    }
    struct evconnlistener *l = evconnlistener_new(
        s->m->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        -1, fd);
    if (!l || !evhttp_bind_listener(s->unix_door.http, l)) {
        if (l)
            evconnlistener_free(l);
        else
            close(fd);
        return tl__mgr_error(s->m, TL_EIO, "cannot serve %s",
                             s->socket_path);
    }
    return 0;
}

static int bind_tcp(tl_server_t *s, const char *listen_addr)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host))
        return tl__mgr_error(s->m, TL_EINVAL,
                             "--listen wants HOST:PORT, not %s", listen_addr);
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return tl__mgr_error(s->m, TL_EINVAL, "bad port in %s", listen_addr);
    struct evhttp_bound_socket *b =
        evhttp_bind_socket_with_handle(s->tcp_door.http, host, (int)port);
    if (!b)
        return tl__mgr_error(s->m, TL_EIO, "cannot listen on %s: %s",
                             listen_addr, strerror(errno));
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &len);
    s->port = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static int random_token(char **out)
{
    unsigned char raw[24];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        if (fd >= 0)
            close(fd);
        return TL_EIO;
    }
    close(fd);
    char *t = malloc(sizeof(raw) * 2 + 1);
    if (!t)
        return TL_ENOMEM;
    for (size_t i = 0; i < sizeof(raw); i++)
        sprintf(t + 2 * i, "%02x", raw[i]);
    *out = t;
    return 0;
}

static int read_token_file(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return TL_ENOTFOUND;
    char buf[256];
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!ok)
        return TL_EIO;
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < 16)
        return TL_EINVAL;
    *out = strdup(buf);
    return *out ? 0 : TL_ENOMEM;
}

static int load_token(tl_server_t *s)
{
    char *path = tl__strfmt("%s/token", s->m->data_dir);
    if (!path)
        return TL_ENOMEM;
    int rc = read_token_file(path, &s->token);
    if (rc == TL_ENOTFOUND || rc == TL_EINVAL) {
        rc = random_token(&s->token);
        int fd = rc ? -1
                    : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           0600);
        if (fd >= 0) {
            dprintf(fd, "%s\n", s->token);
            fchmod(fd, 0600);
            close(fd);
        } else if (!rc) {
            rc = tl__mgr_error(s->m, TL_EIO, "cannot write %s: %s", path,
                               strerror(errno));
        }
    }
    free(path);
    return rc;
}

static int start_ping(tl_server_t *s)
{
    s->ping_ev = event_new(s->m->base, -1, EV_PERSIST, on_ping, s);
    struct timeval tv = {SSE_PING_S, 0};
    if (!s->ping_ev || event_add(s->ping_ev, &tv))
        return TL_ENOMEM;
    return tl_manager_subscribe(s->m, on_event, s, &s->sub);
}

static int start(tl_server_t *s, const tl_server_options_t *o)
{
    const char *listen_addr = o && o->listen ? o->listen : "127.0.0.1:8787";
    s->socket_path =
        o && o->socket_path
            ? strdup(o->socket_path)
            : tl__strfmt("%s/tasklight.sock", s->m->data_dir);
    if (!s->socket_path)
        return TL_ENOMEM;
    int rc = o && o->token ? ((s->token = strdup(o->token)) ? 0 : TL_ENOMEM)
                           : load_token(s);
    rc = rc ? rc : setup_http(s, &s->unix_door, true);
    rc = rc ? rc : setup_http(s, &s->tcp_door, false);
    rc = rc ? rc : bind_unix(s);
    if (!rc && *listen_addr)
        rc = bind_tcp(s, listen_addr);
    return rc ? rc : start_ping(s);
}

int tl_server_start(tl_manager_t *m, const tl_server_options_t *o,
                    tl_server_t **out)
{
    tl_server_t *s = calloc(1, sizeof(*s));
    if (!s)
        return TL_ENOMEM;
    s->m = m;
    int rc = start(s, o);
    if (rc) {
        tl_server_stop(s);
        return rc;
    }
    char *url = s->port ? tl__strfmt("http://127.0.0.1:%d", s->port) : NULL;
    tl__mgr_set_task_env(m, s->socket_path, url, NULL);
    free(url);
    *out = s;
    return 0;
}

int tl_server_port(const tl_server_t *s)
{
    return s->port;
}

const char *tl_server_token(const tl_server_t *s)
{
    return s->token;
}

const char *tl_server_socket_path(const tl_server_t *s)
{
    return s->socket_path;
}

void tl_server_stop(tl_server_t *s)
{
    if (!s)
        return;
    if (s->sub)
        tl_manager_unsubscribe(s->m, s->sub);
    while (s->clients) {
        sse_client_t *c = s->clients;
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
        sse_remove(c);
    }
    if (s->ping_ev)
        event_free(s->ping_ev);
    if (s->unix_door.http)
        evhttp_free(s->unix_door.http);
    if (s->tcp_door.http)
        evhttp_free(s->tcp_door.http);
    if (s->socket_path)
        unlink(s->socket_path);
    free(s->socket_path);
    free(s->token);
    free(s);
}
