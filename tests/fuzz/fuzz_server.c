/*
 * fuzz_server.c -- the in-process tasklight server the HTTP fuzz targets
 * talk to. See fuzz_server.h for the DESIGN.
 */
#include "fuzz_server.h"

#include <tasklight.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sanitizer/common_interface_defs.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define IDLE_TURNS 48
#define MAX_READ (8 << 20)

static tl_manager_t *mgr;
static tl_server_t *srv;
static char dir[256];
static char epoch[64];
static unsigned long inputs;
static char *rbuf, *dbuf;
static size_t rcap, dcap;

/* exec.c starts commands with posix_spawnp(): here nothing is started, and
 * the task fails as "command not found". */
int posix_spawnp(pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *attr, char *const argv[],
                 char *const envp[])
{
    (void)pid;
    (void)file;
    (void)fa;
    (void)attr;
    (void)argv;
    (void)envp;
    return ENOENT;
}

static void remove_dir(void);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_server: %s%s%s\n", what, mgr ? ": " : "",
            mgr ? tl_manager_errmsg(mgr) : "");
    remove_dir();
    abort();
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void fs_stop(void)
{
    tl_server_stop(srv);
    srv = NULL;
    tl_manager_close(mgr);
    mgr = NULL;
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
    epoch[0] = '\0';
}

/* On a crash or a failed check nothing else is closed: only the data
 * directory goes, so no run leaves one behind. */
static void remove_dir(void)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

static void at_exit(void)
{
    fs_stop();
    free(rbuf);
    free(dbuf);
    rbuf = dbuf = NULL;
}

static void turns(int n)
{
    for (int i = 0; i < n; i++)
        tl_manager_run_once(mgr, 1);
}

/* Setup requests must succeed: the targets rely on the tasks they make. */
static void setup_request(const char *mt, const char *body, int want)
{
    size_t len;
    fs_response_t r;
    char *req = fs_request(mt, "", body, strlen(body), &len);
    fs_exchange(0, req, len, &r);
    if (r.status != want) {
        fprintf(stderr, "fuzz_server: setup %s answered %d, not %d:\n%s\n",
                mt, r.status, want, r.raw);
        remove_dir();
        abort();
    }
    free(req);
}

/* Task 1: tracked, running, with a substep and a log; task 2: tracked,
 * completed with a result; task 3: a command that failed to start. */
static void seed_tasks(void)
{
    setup_request("POST /api/tasks",
                  "{\"title\":\"fuzz tracked\",\"kind\":\"fuzz\","
                  "\"heartbeat_timeout_s\":0,\"total\":10,\"key\":\"k1\"}",
                  201);
    setup_request("POST /api/tasks",
                  "{\"title\":\"done\",\"heartbeat_timeout_s\":0}", 201);
    setup_request("PATCH /api/tasks/2",
                  "{\"state\":\"completed\",\"result\":{\"ok\":true}}", 200);
    setup_request("POST /api/tasks",
                  "{\"command\":{\"argv\":[\"no-such-command\"]}}", 201);
    setup_request("POST /api/tasks/1/substeps",
                  "{\"name\":\"step\",\"id\":\"s1\"}", 201);
    setup_request("POST /api/tasks/1/logs", "{\"lines\":[\"one\",\"two\"]}",
                  200);
    turns(8);
}

void fs_start(void)
{
    static int registered;
    if (mgr)
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/tl-fuzz-XXXXXX", base);
    if (!mkdtemp(dir))
        die("mkdtemp");
    tl_manager_options_t o = {.data_dir = dir,
                              .kill_grace_s = 0.1,
                              .log_cap_bytes = 1 << 20,
                              .retry_base_s = 3600};
    if (tl_manager_open(&o, &mgr))
        die("tl_manager_open");
    tl_server_options_t so = {.listen = "127.0.0.1:0", .token = FS_TOKEN};
    if (tl_server_start(mgr, &so, &srv))
        die("tl_server_start");
    if (!registered) {
        signal(SIGPIPE, SIG_IGN); /* as tl serve does: a client may hang up */
        atexit(at_exit);
        __sanitizer_set_death_callback(remove_dir);
        registered = 1;
    }
    seed_tasks();
}

void fs_tick(void)
{
    if (++inputs % FS_RESET_EVERY == 0) {
        fs_stop();
        fs_start();
    }
}

char *fs_request(const char *method_target, const char *headers,
                 const char *body, size_t body_len, size_t *len)
{
    const char *fmt = "%s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: "
                      "%zu\r\nConnection: close\r\n\r\n";
    int n = snprintf(NULL, 0, fmt, method_target, headers, body_len);
    char *req = malloc((size_t)n + body_len + 1);
    if (!req)
        abort();
    snprintf(req, (size_t)n + 1, fmt, method_target, headers, body_len);
    if (body_len)
        memcpy(req + n, body, body_len);
    req[(size_t)n + body_len] = '\0';
    *len = (size_t)n + body_len;
    return req;
}

static int connect_to(int tcp)
{
    int fd;
    if (tcp) {
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)tl_server_port(srv)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            die("connect tcp");
    } else {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
                 tl_server_socket_path(srv));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            die("connect unix");
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        die("fcntl");
    return fd;
}

/* The value of header name in the header block h[0..n), or NULL. */
static const char *header(const char *h, size_t n, const char *name,
                          size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *p = h, *end = h + n; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' &&
            strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Whether rbuf[0..n) holds a whole answer with a Content-Length. */
static int complete(const char *b, size_t n)
{
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    size_t vlen;
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - b) + 4;
    const char *cl = header(b, hlen, "Content-Length", &vlen);
    if (!cl)
        return 0;
    return n - hlen >= strtoull(cl, NULL, 10);
}

static void reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 65536;
    while (c < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p)
        abort();
    *buf = p;
    *cap = c;
}

/* Decodes a chunked body into dbuf; a partial last chunk is kept as far as
 * it goes. */
static size_t dechunk(const char *p, size_t n)
{
    size_t out = 0;
    const char *end = p + n;
    reserve(&dbuf, &dcap, n + 1);
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            break;
        unsigned long long sz = strtoull(p, NULL, 16);
        p = eol + 2;
        if (sz == 0)
            break;
        size_t take = sz < (size_t)(end - p) ? (size_t)sz : (size_t)(end - p);
        memcpy(dbuf + out, p, take);
        out += take;
        p += take;
        if (p + 2 <= end)
            p += 2;
    }
    dbuf[out] = '\0';
    return out;
}

static void parse(fs_response_t *r)
{
    r->status = 0;
    r->body = NULL;
    r->body_len = 0;
    r->json = r->sse = 0;
    if (r->len < 12 || strncmp(r->raw, "HTTP/", 5) != 0)
        return;
    const char *sp = memchr(r->raw, ' ', r->len);
    if (!sp || sp + 4 > r->raw + r->len)
        return;
    r->status = atoi(sp + 1);
    const char *end = memmem(r->raw, r->len, "\r\n\r\n", 4);
    if (!end)
        return;
    size_t hlen = (size_t)(end - r->raw) + 4, vlen;
    const char *ct = header(r->raw, hlen, "Content-Type", &vlen);
    r->json = ct && vlen >= 16 && strncmp(ct, "application/json", 16) == 0;
    r->sse = ct && vlen >= 17 && strncmp(ct, "text/event-stream", 17) == 0;
    const char *te = header(r->raw, hlen, "Transfer-Encoding", &vlen);
    if (te && vlen == 7 && strncasecmp(te, "chunked", 7) == 0) {
        r->body_len = dechunk(r->raw + hlen, r->len - hlen);
        r->body = dbuf;
    } else {
        r->body = r->raw + hlen;
        r->body_len = r->len - hlen;
        /* Answers to pipelined requests may follow: this one ends at its
         * Content-Length. */
        const char *cl = header(r->raw, hlen, "Content-Length", &vlen);
        if (cl && strtoull(cl, NULL, 10) < r->body_len)
            r->body_len = (size_t)strtoull(cl, NULL, 10);
    }
}

void fs_exchange(int tcp, const char *req, size_t len, fs_response_t *out)
{
    int fd = connect_to(tcp);
    size_t sent = 0, got = 0;
    int idle = 0, closed = 0;
    reserve(&rbuf, &rcap, 65536);
    for (;;) {
        if (sent < len) {
            ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (size_t)n;
                idle = 0;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                sent = len; /* the server hung up: read what it said */
            }
        }
        tl_manager_run_once(mgr, 1);
        static char discard[65536]; /* past MAX_READ: read and drop */
        char *dst = discard;
        size_t room = sizeof(discard);
        if (got < MAX_READ) {
            reserve(&rbuf, &rcap, got + 65537);
            dst = rbuf + got;
            room = rcap - got - 1;
        }
        ssize_t n = recv(fd, dst, room, 0);
        if (n > 0) {
            if (dst != discard)
                got += (size_t)n;
            idle = 0;
            if (complete(rbuf, got))
                break;
        } else if (n == 0) {
            closed = 1;
            break;
        } else if (errno != EAGAIN && errno != EINTR) {
            closed = 1;
            break;
        } else if (++idle > IDLE_TURNS) {
            break;
        }
    }
    close(fd);
    turns(4); /* the server sees the close and frees the connection */
    rbuf[got] = '\0';
    *out = (fs_response_t){.raw = rbuf,
                           .len = got,
                           .close = closed,
                           .whole = closed || complete(rbuf, got)};
    parse(out);
}

const char *fs_epoch(void)
{
    if (epoch[0])
        return epoch;
    size_t len;
    fs_response_t r;
    char *req = fs_request("GET /api/stats", "", "", 0, &len);
    fs_exchange(0, req, len, &r);
    free(req);
    json_t *j = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    const char *e =
        json_string_value(json_object_get(json_object_get(j, "server"),
                                          "epoch"));
    if (!e || strlen(e) >= sizeof(epoch)) {
        fprintf(stderr, "fuzz_server: no epoch in /api/stats:\n%s\n", r.raw);
        remove_dir();
        abort();
    }
    snprintf(epoch, sizeof(epoch), "%s", e);
    json_decref(j);
    return epoch;
}

static void show(const char *what, const char *p, size_t n)
{
    fprintf(stderr, "---- %s (%zu bytes) ----\n", what, n);
    for (size_t i = 0; i < n && i < 4096; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n' || (c >= 0x20 && c < 0x7f && c != '\\'))
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

void fs_fail(const char *what, const char *req, size_t req_len,
             const fs_response_t *r)
{
    fprintf(stderr, "fuzz_server: %s\n", what);
    show("request", req, req_len);
    if (r)
        show("answer", r->raw, r->len);
    remove_dir();
    abort();
}

void fs_check_error_body(const fs_response_t *r, const char *req,
                         size_t req_len)
{
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int ok = code && *code && msg && *msg;
    json_decref(j);
    if (!ok)
        fs_fail("a JSON error answer is not {\"error\": {\"code\", "
                "\"message\"}}",
                req, req_len, r);
}
