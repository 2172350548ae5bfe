/*
 * loadgen.c -- a small HTTP/1.1 load generator for the tasklight API.
 *
 * DESIGN: one thread, one epoll loop, C keep-alive connections (unix socket
 * or loopback TCP with the bearer token), each keeping up to D requests in
 * flight (D > 1 is HTTP pipelining; replies come back in order). What is
 * sent next is decided by the mode after each reply, so a lifecycle can use
 * the id the create returned. Every loop is bounded by --count and by
 * --timeout; any non-2xx reply, closed connection or timeout is an error
 * and a non-zero exit. The result is one JSON line on stdout.
 *
 * Modes:
 *   create     POST --count command tasks (argv from --argv, JSON array),
 *              then poll GET /api/stats until that many more have completed;
 *              rate = tasks / (first POST to all completed)
 *   lifecycle  --count times: POST a tracked task, --updates PATCHes of
 *              progress, PATCH state completed; rate = lifecycles/s
 *   progress   --count PATCHes of progress into one tracked task (made
 *              first); rate = updates/s
 *   get        --count GETs of --path; latency percentiles
 *   start      --count times, one at a time: POST a command task running
 *              --stamp FIFO, and read the monotonic time the stamp program
 *              wrote when it started; latency = stamp time - time before the
 *              POST was sent
 *   spawn      the same without the daemon: posix_spawn the stamp program
 *              directly (the floor for "start")
 *   ready      poll GET /healthz every millisecond until it answers 200
 *              (at most --timeout s); prints the wall-clock time it did
 *   sse        SSE fan-out: makes --tasks tracked tasks, opens --subs
 *              streams of GET /api/events (a refused stream, 429 at the
 *              daemon's cap, is counted, not an error), then PATCHes
 *              {"current","message":"sseb NS"} round-robin into the tasks
 *              at --rate per second for --duration s, NS being
 *              CLOCK_MONOTONIC just before the request is written. Every
 *              stream de-chunks and parses its events; for each
 *              task.progress carrying a stamp the delay is receive time -
 *              NS. Waits (at most 10 s) for the last deliveries. Latency
 *              figures are those delays; delivered/expected counts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

extern char **environ;

#define MAX_CONNS 256
#define MAX_DEPTH 64
#define REQ_MAX 8192

enum mode {
    M_CREATE,
    M_LIFECYCLE,
    M_PROGRESS,
    M_GET,
    M_START,
    M_SPAWN,
    M_READY,
    M_SSE,
    M__COUNT
};
static const char *const mode_names[M__COUNT] = {
    "create", "lifecycle", "progress", "get", "start", "spawn", "ready", "sse"};

static struct opts {
    const char *unix_path;
    const char *tcp;
    char token[256];
    enum mode mode;
    long count;
    int conns;
    int depth;
    int updates;
    const char *path;
    const char *argv_json;
    const char *stamp;
    const char *fifo;
    const char *dump; /* every latency in ms, one a line, sorted */
    double timeout_s;
    double pause_ms;
    /* sse */
    int subs;
    int tasks;
    double rate;
    double duration_s;
} o = {.count = 1000,
       .subs = 1000,
       .tasks = 10,
       .rate = 50,
       .duration_s = 10,
       .conns = 1,
       .depth = 1,
       .updates = 10,
       .path = "/healthz",
       .argv_json = "[\"true\"]",
       .timeout_s = 300,
       .pause_ms = 5};

typedef struct conn {
    int fd;
    char out[REQ_MAX * MAX_DEPTH];
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
    int inflight;
    double sent_at[MAX_DEPTH]; /* ring, in send order */
    int ring_head;
    /* lifecycle state */
    long task_id;
    int step;
    int done;         /* this connection will send nothing more */
    int server_close; /* the last reply said Connection: close */
} conn_t;

static conn_t conns[MAX_CONNS];
static long issued, completed_reqs, lifecycles_done, errors, reconnects;
static int ep = -1;
static double *lat;
static long nlat, lat_cap;
static long progress_task;
static double t_start;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record(double seconds)
{
    if (nlat == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 4096;
        lat = realloc(lat, lat_cap * sizeof(*lat));
        if (!lat)
            die("out of memory");
    }
    lat[nlat++] = seconds;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the latencies, and writes them (ms, one a line) to --dump. */
static void sort_and_dump(void)
{
    qsort(lat, nlat, sizeof(*lat), cmp_double);
    if (o.dump) {
        FILE *f = fopen(o.dump, "w");
        if (!f)
            die("cannot write %s: %s", o.dump, strerror(errno));
        for (long i = 0; i < nlat; i++)
            fprintf(f, "%.4f\n", lat[i] * 1000.0);
        fclose(f);
    }
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    long i = (long)(p / 100.0 * nlat);
    if (i >= nlat)
        i = nlat - 1;
    return lat[i] * 1000.0;
}

/* ---- connections -------------------------------------------------------- */

/* A connected socket, or -1 with errno set. */
static int dial_try(void)
{
    int fd;
    if (o.unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(o.unix_path) >= sizeof(sa.sun_path))
            die("socket path too long");
        strcpy(sa.sun_path, o.unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    } else {
        char host[64];
        const char *colon = strrchr(o.tcp, ':');
        struct sockaddr_in sa = {.sin_family = AF_INET};
        int one = 1;
        if (!colon || (size_t)(colon - o.tcp) >= sizeof(host))
            die("bad --tcp %s", o.tcp);
        memcpy(host, o.tcp, colon - o.tcp);
        host[colon - o.tcp] = 0;
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
            die("bad host %s", host);
        /* Loopback only: this tool never loads anything else. */
        if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
            die("refusing non-loopback address %s", host);
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

static int dial(void)
{
    int fd = dial_try();
    if (fd < 0)
        die("connect %s: %s", o.unix_path ? o.unix_path : o.tcp,
            strerror(errno));
    return fd;
}

static size_t build(char *buf, const char *method, const char *path,
                    const char *body)
{
    char auth[320] = "";
    int n;
    if (o.token[0])
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", o.token);
    /* Changes ask for the short answer, as tasklight's own reporters do
     * (servers that do not know the preference ignore it, RFC 7240). */
    if (body)
        n = snprintf(buf, REQ_MAX,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n%s"
                     "Prefer: return=minimal\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, auth, strlen(body), body);
    else
        n = snprintf(buf, REQ_MAX,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", method,
                     path, auth);
    if (n < 0 || n >= REQ_MAX)
        die("request too large");
    return (size_t)n;
}

/* Parses one complete response at the start of c->in. Returns its total
 * length, or 0 if more bytes are needed. */
static size_t parse_response(conn_t *c, int *status, const char **body,
                             size_t *body_len)
{
    char *end;
    size_t head, clen = 0;
    int have_len = 0, close_after = 0;

    if (c->in_len < 12)
        return 0;
    end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    head = (size_t)(end - c->in) + 4;
    if (strncmp(c->in, "HTTP/1.", 7))
        die("not an HTTP response");
    *status = atoi(c->in + 9);
    for (char *p = c->in; p < end;) {
        char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol)
            break;
        if (eol - p > 15 && !strncasecmp(p, "content-length:", 15)) {
            clen = strtoul(p + 15, NULL, 10);
            have_len = 1;
        } else if (eol - p > 18 && !strncasecmp(p, "transfer-encoding:", 18)) {
            die("chunked replies are not supported here");
        } else if (eol - p >= 17 && !strncasecmp(p, "connection: close", 17)) {
            close_after = 1;
        }
        p = eol + 2;
    }
    if (!have_len)
        clen = 0;
    if (c->in_len < head + clen)
        return 0;
    *body = c->in + head;
    *body_len = clen;
    c->server_close = close_after;
    return head + clen;
}

/* The integer after "key": in a JSON text, or -1. */
static long json_int(const char *body, size_t len, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    p = memmem(body, len, pat, strlen(pat));
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return strtol(p, NULL, 10);
}

/* ---- reading answers ----------------------------------------------------- */

#define BUF_MAX (64u << 20) /* what a connection may buffer */

static void grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    if (need > BUF_MAX)
        die("a connection buffered more than %u bytes", BUF_MAX);
    size_t c = *cap ? *cap : 16384;
    while (c < need)
        c *= 2;
    *buf = realloc(*buf, c);
    if (!*buf)
        die("out of memory");
    *cap = c;
}

/* Reads what the non-blocking fd has into *buf: 0 once it would block, 1
 * at the end of the stream, -1 on an error (errno says which). */
static int read_more(int fd, char **buf, size_t *len, size_t *cap)
{
    for (;;) {
        grow(buf, cap, *len + 65536);
        ssize_t r = read(fd, *buf + *len, *cap - *len);
        if (r > 0)
            *len += (size_t)r;
        else if (r == 0)
            return 1;
        else if (errno != EINTR)
            return errno == EAGAIN ? 0 : -1;
    }
}

/* The next whole answer in c->in, matched with the oldest request in
 * flight: its length (0: none yet), status, body, and how long it took.
 * drop_in() it once handled. */
static size_t take_reply(conn_t *c, int *status, const char **body,
                         size_t *blen, double *took)
{
    size_t total = parse_response(c, status, body, blen);
    if (!total)
        return 0;
    if (!c->inflight)
        die("reply without a request");
    *took = now() - c->sent_at[c->ring_head];
    c->ring_head = (c->ring_head + 1) % MAX_DEPTH;
    c->inflight--;
    return total;
}

static void drop_in(conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* A blocking round trip on a fresh connection's fd (setup and polling). */
static int roundtrip(conn_t *c, const char *method, const char *path,
                     const char *body, char *out, size_t out_cap)
{
    char req[REQ_MAX];
    size_t n = build(req, method, path, body), off = 0;
    int status;
    const char *b;
    size_t blen, total;

    while (off < n) {
        ssize_t w = write(c->fd, req + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write: %s", strerror(errno));
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r;
        total = parse_response(c, &status, &b, &blen);
        if (total)
            break;
        grow(&c->in, &c->in_cap, c->in_len + 65536);
        r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("%s %s: connection closed", method, path);
        c->in_len += (size_t)r;
    }
    if (out) {
        size_t k = blen < out_cap - 1 ? blen : out_cap - 1;
        memcpy(out, b, k);
        out[k] = 0;
    }
    drop_in(c, total);
    if (status < 200 || status > 299)
        die("%s %s: HTTP %d: %.*s", method, path, status, (int)blen, b);
    return status;
}

/* ---- what each mode sends ------------------------------------------------ */

/* Writes the next request of connection c into buf; 0 when it has none. */
static size_t next_request(conn_t *c, char *buf)
{
    char path[128], body[512];

    switch (o.mode) {
    case M_CREATE:
        if (issued >= o.count)
            return 0;
        issued++;
        snprintf(body, sizeof(body), "{\"command\":{\"argv\":%s}}",
                 o.argv_json);
        return build(buf, "POST", "/api/tasks", body);
    case M_GET:
        if (issued >= o.count)
            return 0;
        issued++;
        return build(buf, "GET", o.path, NULL);
    case M_PROGRESS:
        if (issued >= o.count)
            return 0;
        snprintf(path, sizeof(path), "/api/tasks/%ld", progress_task);
        snprintf(body, sizeof(body), "{\"progress\":%.2f}",
                 (double)(issued % 10000) / 100.0);
        issued++;
        return build(buf, "PATCH", path, body);
    case M_LIFECYCLE:
        if (c->inflight)
            return 0; /* each step needs the previous answer */
        if (c->step == 0) {
            if (issued >= o.count)
                return 0;
            issued++;
            snprintf(body, sizeof(body),
                     "{\"title\":\"bench %ld\",\"kind\":\"bench\","
                     "\"total\":%d,\"unit\":\"steps\"}",
                     issued, o.updates);
            return build(buf, "POST", "/api/tasks", body);
        }
        snprintf(path, sizeof(path), "/api/tasks/%ld", c->task_id);
        if (c->step <= o.updates)
            snprintf(body, sizeof(body),
                     "{\"progress\":%.1f,\"message\":\"step %d\"}",
                     100.0 * c->step / o.updates, c->step);
        else
            snprintf(body, sizeof(body),
                     "{\"state\":\"completed\",\"result\":{\"ok\":true}}");
        return build(buf, "PATCH", path, body);
    default:
        return 0;
    }
}

static void on_reply(conn_t *c, int status, const char *body, size_t len)
{
    if (status < 200 || status > 299) {
        if (errors++ < 3)
            fprintf(stderr, "loadgen: HTTP %d: %.*s\n", status,
                    (int)(len > 300 ? 300 : len), body);
        if (o.mode == M_LIFECYCLE)
            c->step = 0;
        return;
    }
    if (o.mode != M_LIFECYCLE)
        return;
    if (c->step == 0) {
        c->task_id = json_int(body, len, "id");
        if (c->task_id <= 0)
            die("create answered no id: %.*s", (int)len, body);
        c->step = 1;
    } else if (c->step <= o.updates) {
        c->step++;
    } else {
        c->step = 0;
        lifecycles_done++;
    }
}

static void queue_requests(conn_t *c)
{
    /* Keep only unsent bytes: at most depth requests fit in the buffer. */
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    while (!c->done && c->inflight < o.depth) {
        size_t n = next_request(c, c->out + c->out_len);
        if (!n) {
            if (!c->inflight && (o.mode != M_LIFECYCLE || c->step == 0))
                c->done = 1;
            break;
        }
        c->out_len += n;
        c->sent_at[(c->ring_head + c->inflight) % MAX_DEPTH] = now();
        c->inflight++;
    }
}

static void flush_out(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (w <= 0)
            die("write: %s", strerror(errno));
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
}

/* A server that closes after each reply (Python's http.server does) gets
 * a new connection for the next request; the cost is part of its figure. */
static void redial(conn_t *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                             .data.ptr = c};
    if (c->inflight || c->out_len)
        die("the server closed a connection with requests in flight; "
            "use --depth 1 with it");
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = dial();
    c->in_len = 0;
    c->server_close = 0;
    reconnects++;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
        die("epoll_ctl: %s", strerror(errno));
}

static void read_in(conn_t *c)
{
    int rc = read_more(c->fd, &c->in, &c->in_len, &c->in_cap);
    if (rc < 0)
        die("read: %s", strerror(errno));
    int eof = rc == 1, status;
    const char *body;
    size_t blen, total;
    double took;
    while ((total = take_reply(c, &status, &body, &blen, &took))) {
        record(took);
        completed_reqs++;
        on_reply(c, status, body, blen);
        drop_in(c, total);
        if (c->server_close)
            break;
    }
    if (eof && !c->server_close)
        die("connection closed by the server (%ld replies so far)",
            completed_reqs);
    if (c->server_close)
        redial(c);
}

/* Runs the epoll engine until every connection is done. */
static void run_engine(void)
{
    ep = epoll_create1(EPOLL_CLOEXEC);
    int active = o.conns;
    double deadline = now() + o.timeout_s;

    if (ep < 0)
        die("epoll: %s", strerror(errno));
    for (int i = 0; i < o.conns; i++) {
        conn_t *c = &conns[i];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                                 .data.ptr = c};
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
            die("epoll_ctl: %s", strerror(errno));
        queue_requests(c);
        flush_out(c);
        if (c->done)
            active--;
    }
    while (active > 0) {
        struct epoll_event evs[MAX_CONNS];
        int n = epoll_wait(ep, evs, MAX_CONNS, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait: %s", strerror(errno));
        if (now() > deadline)
            die("timed out after %.0f s (%ld replies)", o.timeout_s,
                completed_reqs);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            int was_done = c->done;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                read_in(c);
            queue_requests(c);
            flush_out(c);
            if (c->done && !was_done)
                active--;
        }
    }
    close(ep);
    for (int i = 0; i < o.conns; i++)
        fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) & ~O_NONBLOCK);
}

/* ---- modes --------------------------------------------------------------- */

static long stats_done(conn_t *c)
{
    char body[8192];
    long done, failed;
    roundtrip(c, "GET", "/api/stats", NULL, body, sizeof(body));
    done = json_int(body, strlen(body), "completed");
    failed = json_int(body, strlen(body), "failed");
    if (done < 0)
        die("no completed count in /api/stats: %s", body);
    if (failed > 0)
        die("%ld tasks failed", failed);
    return done;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static int64_t read_stamp(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t ns;
    int r = poll(&p, 1, 10000);
    if (r <= 0)
        die("the stamp program did not report within 10 s");
    if (read(fd, &ns, sizeof(ns)) != (ssize_t)sizeof(ns))
        die("short read from the fifo");
    return ns;
}

static int open_fifo(void)
{
    int fd;
    if (!o.fifo || !o.stamp)
        die("--stamp and --fifo are needed");
    unlink(o.fifo);
    if (mkfifo(o.fifo, 0600))
        die("mkfifo %s: %s", o.fifo, strerror(errno));
    /* O_RDWR: never blocks, and the fifo never sees end-of-file. */
    fd = open(o.fifo, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("open %s: %s", o.fifo, strerror(errno));
    return fd;
}

static void mode_start(void)
{
    int fd = open_fifo();
    char body[1024];
    double t0;
    struct timespec ts;

    snprintf(body, sizeof(body), "{\"command\":{\"argv\":[\"%s\",\"%s\"]}}",
             o.stamp, o.fifo);
    for (long i = 0; i < o.count; i++) {
        int64_t ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = ts.tv_sec + ts.tv_nsec / 1e9;
        roundtrip(&conns[0], "POST", "/api/tasks", body, NULL, 0);
        ns = read_stamp(fd);
        record(ns / 1e9 - t0);
        completed_reqs++;
        sleep_s(o.pause_ms / 1000.0); /* idle again: the task ends */
    }
    close(fd);
    unlink(o.fifo);
}

static void mode_spawn(void)
{
    int fd = open_fifo();
    char *argv[] = {(char *)o.stamp, (char *)o.fifo, NULL};

    for (long i = 0; i < o.count; i++) {
        struct timespec ts;
        double t0;
        pid_t pid;
        int st;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = ts.tv_sec + ts.tv_nsec / 1e9;
        if (posix_spawn(&pid, o.stamp, NULL, NULL, argv, environ))
            die("posix_spawn %s failed", o.stamp);
        record(read_stamp(fd) / 1e9 - t0);
        waitpid(pid, &st, 0);
        completed_reqs++;
        sleep_s(o.pause_ms / 1000.0);
    }
    close(fd);
    unlink(o.fifo);
}

/* One GET /healthz on a new connection: 1 when it answered 200. */
static int healthy_once(void)
{
    conn_t c = {.fd = dial_try()};
    char req[REQ_MAX];
    size_t n, off = 0;
    int ok = 0;
    double deadline = now() + 1.0;

    if (c.fd < 0)
        return 0;
    n = build(req, "GET", "/healthz", NULL);
    while (off < n) {
        ssize_t w = write(c.fd, req + off, n - off);
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    c.in_cap = 65536;
    c.in = malloc(c.in_cap);
    while (c.in && now() < deadline) {
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        int status;
        const char *b;
        size_t blen;
        ssize_t r;
        if (poll(&p, 1, 100) <= 0)
            continue;
        r = read(c.fd, c.in + c.in_len, c.in_cap - c.in_len);
        if (r <= 0 || (c.in_len += (size_t)r) == c.in_cap)
            break;
        if (parse_response(&c, &status, &b, &blen)) {
            ok = status == 200;
            break;
        }
    }
out:
    free(c.in);
    close(c.fd);
    return ok;
}

static void mode_ready(void)
{
    double deadline = now() + o.timeout_s;
    struct timespec rt;
    while (!healthy_once()) {
        if (now() > deadline)
            die("no answer from /healthz within %.0f s", o.timeout_s);
        sleep_s(0.001);
    }
    clock_gettime(CLOCK_REALTIME, &rt);
    printf("{\"mode\":\"ready\",\"errors\":0,\"realtime\":%.6f,"
           "\"waited_s\":%.6f}\n",
           rt.tv_sec + rt.tv_nsec / 1e9, now() - t_start);
}

/* ---- sse: fan-out of events to many streams ------------------------------ */

typedef struct sub {
    int fd;
    int state;          /* SUB_* */
    int chunked;        /* Transfer-Encoding: chunked */
    int cstate;         /* de-chunking: 0 size line, 1 data, 2 CRLF after */
    size_t chunk_left;  /* bytes of the current chunk still to come */
    char *in;           /* raw bytes not yet de-chunked */
    size_t in_len, in_cap;
    char *ev;           /* de-chunked SSE text not yet parsed */
    size_t ev_len, ev_cap;
    long events;        /* stamped task.progress events it parsed */
} sub_t;

enum { SUB_HEAD, SUB_LIVE, SUB_REFUSED, SUB_GONE };

#define UPD_TAG UINT64_MAX

static sub_t *subs;
static long subs_live, subs_refused, subs_gone, subs_pending;
static long sse_delivered, sse_other_events;
static double *upd_lat;
static long upd_sent, upd_replied, upd_cap;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Parses the complete events in s->ev; records the delay of each stamped
 * task.progress event. */
static void sse_parse(sub_t *s, int64_t recv_ns)
{
    static const char mark[] = "\"message\":\"sseb ";
    size_t off = 0;
    for (;;) {
        char *end = memmem(s->ev + off, s->ev_len - off, "\n\n", 2);
        if (!end)
            break;
        size_t len = (size_t)(end - (s->ev + off));
        const char *e = s->ev + off;
        const char *m = memmem(e, len, mark, sizeof(mark) - 1);
        if (m && memmem(e, len, "event: task.progress\n", 21)) {
            int64_t ns = strtoll(m + sizeof(mark) - 1, NULL, 10);
            record((double)(recv_ns - ns) / 1e9);
            s->events++;
            sse_delivered++;
        } else {
            sse_other_events++;
        }
        off += len + 2;
    }
    memmove(s->ev, s->ev + off, s->ev_len - off);
    s->ev_len -= off;
}

/* Moves the body bytes of s->in (de-chunked when chunked) to s->ev.
 * Returns 1 when the stream ended (the last chunk). */
static int sse_dechunk(sub_t *s)
{
    size_t off = 0;
    int ended = 0;
    while (off < s->in_len && !ended) {
        if (!s->chunked) {
            grow(&s->ev, &s->ev_cap, s->ev_len + s->in_len - off);
            memcpy(s->ev + s->ev_len, s->in + off, s->in_len - off);
            s->ev_len += s->in_len - off;
            off = s->in_len;
        } else if (s->cstate == 0) {
            char *eol = memmem(s->in + off, s->in_len - off, "\r\n", 2);
            if (!eol)
                break;
            s->chunk_left = strtoul(s->in + off, NULL, 16);
            off = (size_t)(eol - s->in) + 2;
            if (s->chunk_left == 0)
                ended = 1;
            else
                s->cstate = 1;
        } else if (s->cstate == 1) {
            size_t k = s->in_len - off;
            if (k > s->chunk_left)
                k = s->chunk_left;
            grow(&s->ev, &s->ev_cap, s->ev_len + k);
            memcpy(s->ev + s->ev_len, s->in + off, k);
            s->ev_len += k;
            off += k;
            s->chunk_left -= k;
            if (!s->chunk_left)
                s->cstate = 2;
        } else {
            if (s->in_len - off < 2)
                break;
            off += 2;
            s->cstate = 0;
        }
    }
    memmove(s->in, s->in + off, s->in_len - off);
    s->in_len -= off;
    return ended;
}

static void sub_close(sub_t *s, int state)
{
    if (s->state == SUB_HEAD)
        subs_pending--;
    else if (s->state == SUB_LIVE)
        subs_live--;
    s->state = state;
    if (state == SUB_REFUSED)
        subs_refused++;
    else
        subs_gone++;
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    free(s->in);
    free(s->ev);
    s->in = s->ev = NULL;
}

static void sub_read(sub_t *s)
{
    int eof = s->fd >= 0 && read_more(s->fd, &s->in, &s->in_len, &s->in_cap);
    int64_t t = now_ns();
    if (s->state == SUB_HEAD) {
        char *end = memmem(s->in, s->in_len, "\r\n\r\n", 4);
        if (!end) {
            if (eof)
                die("a stream closed before its headers");
            return;
        }
        if (s->in_len < 12 || strncmp(s->in, "HTTP/1.", 7))
            die("not an HTTP response");
        int status = atoi(s->in + 9);
        size_t head = (size_t)(end - s->in) + 4;
        if (status == 429 || status == 503) {
            sub_close(s, SUB_REFUSED);
            return;
        }
        if (status != 200)
            die("GET /api/events: HTTP %d: %.*s", status,
                (int)(s->in_len > 300 ? 300 : s->in_len), s->in);
        s->chunked = memmem(s->in, head, "chunked", 7) != NULL;
        memmove(s->in, s->in + head, s->in_len - head);
        s->in_len -= head;
        s->state = SUB_LIVE;
        subs_pending--;
        subs_live++;
    }
    int ended = sse_dechunk(s);
    sse_parse(s, t);
    if (eof || ended)
        sub_close(s, SUB_GONE);
}

/* The updater: PATCHes on a schedule, replies read as they come. */
static conn_t *upd;
static int64_t *task_ids;

static void upd_send(int64_t k)
{
    char path[64], body[256], req[REQ_MAX];
    snprintf(path, sizeof(path), "/api/tasks/%lld",
             (long long)task_ids[k % o.tasks]);
    int64_t ns = now_ns();
    snprintf(body, sizeof(body), "{\"current\":%lld,\"message\":\"sseb %lld\"}",
             (long long)(k / o.tasks + 1), (long long)ns);
    size_t n = build(req, "PATCH", path, body);
    if (upd->inflight >= MAX_DEPTH)
        die("the daemon fell %d PATCHes behind", MAX_DEPTH);
    if (upd->out_len + n > sizeof(upd->out))
        die("updater output full");
    memcpy(upd->out + upd->out_len, req, n);
    upd->out_len += n;
    upd->sent_at[(upd->ring_head + upd->inflight) % MAX_DEPTH] = ns / 1e9;
    upd->inflight++;
    upd_sent++;
    flush_out(upd);
}

static void upd_read(void)
{
    if (read_more(upd->fd, &upd->in, &upd->in_len, &upd->in_cap) != 0)
        die("the daemon closed the updater's connection");
    int status;
    const char *body;
    size_t blen, total;
    double took;
    while ((total = take_reply(upd, &status, &body, &blen, &took))) {
        if (status < 200 || status > 299)
            die("PATCH: HTTP %d: %.*s", status, (int)blen, body);
        if (upd_replied < upd_cap)
            upd_lat[upd_replied] = took;
        upd_replied++;
        drop_in(upd, total);
    }
}

/* One epoll pass: waits at most ms, handles what is ready. */
static void sse_pump(int ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == UPD_TAG) {
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                upd_read();
            flush_out(upd);
        } else {
            sub_t *s = &subs[evs[i].data.u64];
            if (s->fd >= 0)
                sub_read(s);
        }
    }
}

static int cmp_pct(const void *a, const void *b)
{
    return cmp_double(a, b);
}

static int mode_sse(void)
{
    struct rlimit rl;
    char body[8192], req[REQ_MAX];
    double deadline = now() + o.timeout_s;

    /* One descriptor per stream: raise the soft limit to the hard one. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)o.subs + 64)
        die("open-file limit %lu is too low for %d streams (ulimit -n)",
            (unsigned long)rl.rlim_cur, o.subs);

    /* The tasks the updates go to. */
    upd = &conns[0];
    upd->fd = dial();
    task_ids = calloc((size_t)o.tasks, sizeof(*task_ids));
    if (!task_ids)
        die("out of memory");
    for (int i = 0; i < o.tasks; i++) {
        char b[256];
        snprintf(b, sizeof(b),
                 "{\"title\":\"sse bench %d\",\"kind\":\"bench\","
                 "\"total\":1000000000}",
                 i);
        roundtrip(upd, "POST", "/api/tasks", b, body, sizeof(body));
        task_ids[i] = json_int(body, strlen(body), "id");
        if (task_ids[i] <= 0)
            die("create answered no id: %s", body);
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll: %s", strerror(errno));
    fcntl(upd->fd, F_SETFL, fcntl(upd->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event uev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                              .data.u64 = UPD_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, upd->fd, &uev))
        die("epoll_ctl: %s", strerror(errno));

    /* The streams, 50 at a time so the listen backlog never overflows. */
    subs = calloc((size_t)o.subs, sizeof(*subs));
    if (!subs)
        die("out of memory");
    size_t rn = build(req, "GET", "/api/events", NULL);
    double t_conn = now();
    for (int i = 0; i < o.subs; i++) {
        sub_t *s = &subs[i];
        s->fd = dial();
        if (write(s->fd, req, rn) != (ssize_t)rn)
            die("write: %s", strerror(errno));
        fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                 .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev))
            die("epoll_ctl: %s", strerror(errno));
        subs_pending++;
        if (i % 50 == 49 || i == o.subs - 1)
            while (subs_pending > 0) {
                if (now() > deadline)
                    die("streams did not open within %.0f s", o.timeout_s);
                sse_pump(100);
            }
    }
    double connect_s = now() - t_conn;
    /* Let the hello events and the last accepts settle. */
    for (double t = now() + 0.2; now() < t;)
        sse_pump(20);
    sse_other_events = 0;

    long total = (long)(o.rate * o.duration_s + 0.5);
    upd_cap = total;
    upd_lat = calloc((size_t)total + 1, sizeof(*upd_lat));
    if (!upd_lat)
        die("out of memory");
    double t0 = now();
    t_start = t0;
    while (upd_sent < total) {
        double due = t0 + (double)upd_sent / o.rate, t = now();
        if (t >= due) {
            upd_send(upd_sent);
            continue;
        }
        if (t > deadline)
            die("timed out while sending");
        sse_pump((int)((due - t) * 1000)); /* 0 ms: just poll */
    }
    double t_last = now();
    long live_at_end = subs_live;
    /* The last deliveries: until every live stream has every event, or
     * 10 s. */
    while (now() < t_last + 10 &&
           (sse_delivered < upd_sent * subs_live || upd_replied < upd_sent))
        sse_pump(50);
    double wait_s = now() - t_last;

    sort_and_dump();
    long connected = live_at_end + subs_gone;
    long expected = upd_sent * connected;
    long got = upd_replied < upd_cap ? upd_replied : upd_cap;
    qsort(upd_lat, got, sizeof(*upd_lat), cmp_pct);
    double up50 = got ? upd_lat[got / 2] * 1000 : 0;
    double up99 = got ? upd_lat[(long)(got * 0.99)] * 1000 : 0;
    printf("{\"mode\":\"sse\",\"subs\":%d,\"connected\":%ld,\"refused\":%ld,"
           "\"dropped\":%ld,\"tasks\":%d,\"rate\":%.2f,\"updates\":%ld,"
           "\"expected\":%ld,\"delivered\":%ld,\"delivered_pct\":%.3f,"
           "\"fanout_per_s\":%.1f,\"connect_s\":%.3f,\"drain_s\":%.3f,"
           "\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f,"
           "\"patch_p50_ms\":%.4f,\"patch_p99_ms\":%.4f,\"errors\":0}\n",
           o.subs, connected, subs_refused, subs_gone, o.tasks,
           upd_sent / (t_last - t0), upd_sent, expected, sse_delivered,
           expected ? 100.0 * sse_delivered / expected : 0.0,
           sse_delivered / (t_last - t0 + wait_s), connect_s, wait_s, pct(50),
           pct(90), pct(99), nlat ? lat[nlat - 1] * 1000.0 : 0.0, up50, up99);
    return 0;
}

static void usage(void)
{
    fputs(
        "usage: loadgen (--unix PATH | --tcp 127.0.0.1:PORT --token-file F)\n"
        "  --mode create|lifecycle|progress|get|start|spawn|ready|sse [--count N]\n"
        "  [--conns C] [--depth D] [--updates U] [--path P] [--argv JSON]\n"
        "  [--stamp BIN --fifo PATH] [--pause-ms MS] [--timeout S]\n"
        "  [--dump FILE]\n"
        "  sse: [--subs N] [--tasks K] [--rate R] [--duration S]\n",
        stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--unix"))
            o.unix_path = v;
        else if (!strcmp(a, "--tcp"))
            o.tcp = v;
        else if (!strcmp(a, "--token-file")) {
            FILE *f = fopen(v, "r");
            if (!f || !fgets(o.token, sizeof(o.token), f))
                die("cannot read token from %s", v);
            fclose(f);
            o.token[strcspn(o.token, "\r\n")] = 0;
        } else if (!strcmp(a, "--mode")) {
            int k = 0;
            while (k < M__COUNT && strcmp(mode_names[k], v))
                k++;
            if (k == M__COUNT)
                usage();
            o.mode = (enum mode)k;
        } else if (!strcmp(a, "--count"))
            o.count = atol(v);
        else if (!strcmp(a, "--conns"))
            o.conns = atoi(v);
        else if (!strcmp(a, "--depth"))
            o.depth = atoi(v);
        else if (!strcmp(a, "--updates"))
            o.updates = atoi(v);
        else if (!strcmp(a, "--path"))
            o.path = v;
        else if (!strcmp(a, "--argv"))
            o.argv_json = v;
        else if (!strcmp(a, "--stamp"))
            o.stamp = v;
        else if (!strcmp(a, "--fifo"))
            o.fifo = v;
        else if (!strcmp(a, "--pause-ms"))
            o.pause_ms = atof(v);
        else if (!strcmp(a, "--dump"))
            o.dump = v;
        else if (!strcmp(a, "--timeout"))
            o.timeout_s = atof(v);
        else if (!strcmp(a, "--subs"))
            o.subs = atoi(v);
        else if (!strcmp(a, "--tasks"))
            o.tasks = atoi(v);
        else if (!strcmp(a, "--rate"))
            o.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            o.duration_s = atof(v);
        else
            usage();
    }
    if (o.count < 1 || o.conns < 1 || o.conns > MAX_CONNS || o.depth < 1 ||
        o.depth > MAX_DEPTH || o.updates < 0 || o.timeout_s <= 0 ||
        o.subs < 1 || o.subs > 100000 || o.tasks < 1 || o.tasks > 10000 ||
        o.rate <= 0 || o.rate > 100000 || o.duration_s <= 0 ||
        o.duration_s > 3600)
        usage();
    if (o.mode == M_READY && o.timeout_s == 300)
        o.timeout_s = 20;
    if (o.mode != M_SPAWN && !o.unix_path == !o.tcp)
        usage();
}

int main(int argc, char **argv)
{
    double secs;
    double rate_units;
    const char *unit = "req";
    long base_done = 0;

    parse_args(argc, argv);
    if (o.mode == M_SSE)
        return mode_sse();
    if (o.mode == M_READY) {
        t_start = now();
        mode_ready();
        return 0;
    }
    if (o.mode == M_SPAWN) {
        t_start = now();
        mode_spawn();
    } else {
        for (int i = 0; i < o.conns; i++)
            conns[i].fd = dial();
        if (o.mode == M_PROGRESS) {
            char body[8192];
            roundtrip(&conns[0], "POST", "/api/tasks",
                      "{\"title\":\"progress bench\",\"total\":100}", body,
                      sizeof(body));
            progress_task = json_int(body, strlen(body), "id");
            if (progress_task <= 0)
                die("no id in %s", body);
        }
        if (o.mode == M_CREATE)
            base_done = stats_done(&conns[0]);
        if (o.mode == M_START) {
            t_start = now();
            mode_start();
        } else {
            t_start = now();
            run_engine();
        }
    }
    if (o.mode == M_CREATE) {
        double deadline = t_start + o.timeout_s;
        while (stats_done(&conns[0]) < base_done + o.count) {
            if (now() > deadline)
                die("tasks did not all complete within %.0f s", o.timeout_s);
            sleep_s(0.002);
        }
    }
    secs = now() - t_start;
    if (o.mode == M_PROGRESS) {
        char path[64];
        snprintf(path, sizeof(path), "/api/tasks/%ld", progress_task);
        roundtrip(&conns[0], "PATCH", path, "{\"state\":\"completed\"}", NULL,
                  0);
    }
    sort_and_dump();
    rate_units = (double)completed_reqs;
    if (o.mode == M_LIFECYCLE) {
        rate_units = (double)lifecycles_done;
        unit = "lifecycle";
    } else if (o.mode == M_CREATE) {
        rate_units = (double)o.count;
        unit = "task";
    }
    printf("{\"mode\":\"%s\",\"count\":%ld,\"requests\":%ld,\"errors\":%ld,"
           "\"reconnects\":%ld,\"seconds\":%.6f,\"rate\":%.2f,\"unit\":\"%s\","
           "\"req_per_s\":%.2f,"
           "\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}\n",
           mode_names[o.mode], o.count, completed_reqs, errors, reconnects,
           secs, rate_units / secs, unit, completed_reqs / secs, pct(50),
           pct(90), pct(99), nlat ? lat[nlat - 1] * 1000.0 : 0.0);
    return errors ? 1 : 0;
}
