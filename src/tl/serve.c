/*
 * serve.c -- `tl serve`: the daemon. Opens the manager on the data
 * directory, serves the API on the unix socket and on loopback TCP, and
 * runs the loop until SIGINT or SIGTERM.
 *
 * DESIGN: the manager's lock on the data directory makes this the only
 * daemon of the directory. Once it serves, it writes DATA_DIR/listen
 * ("HOST:PORT\n", atomically: a temporary file renamed over it) so that
 * clients and tests find the TCP port; the file is removed on a clean
 * stop. The signal handler only calls tl_manager_stop(), which is
 * async-signal-safe; everything else happens after tl_manager_run()
 * returns.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tasklight.h>

#include "args.h"
#include "cli.h"

#define DEFAULT_LISTEN "127.0.0.1:8787"

static const char usage[] =
    "usage: tl serve [--data-dir D] [--listen HOST:PORT] [--no-tcp]\n"
    "                [--multi-user] [--rate-limit N] [--http-timeout SEC]\n"
    "                [--kill-grace SEC] [--max-queued N] [--max-streams N]\n"
    "                [--redact RE]...\n"
    "\n"
    "Runs the daemon in the foreground: the API on the unix socket\n"
    "DATA_DIR/tasklight.sock, and the API and the dashboard on loopback TCP\n"
    "behind the token in DATA_DIR/token. SIGINT or SIGTERM stops it.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT  TCP address (default " DEFAULT_LISTEN
    "; port 0 picks\n"
    "                      a free one, written to DATA_DIR/listen)\n"
    "  --no-tcp            serve the unix socket only\n"
    "  --multi-user        only a task's owner (or an admin token) may\n"
    "                      change it\n"
    "  --rate-limit N      requests per second per TCP token (default: no\n"
    "                      limit; 429 past it)\n"
    "  --http-timeout SEC  idle or slow connections are closed (default 60)\n"
    "  --kill-grace SEC    SIGTERM to SIGKILL on cancel (default 5)\n"
    "  --max-queued N      refuse new tasks past N queued (default 1000000)\n"
    "  --max-streams N     event streams open at once (default 1024; each\n"
    "                      takes a file descriptor)\n"
    "  --redact RE         also redact this PCRE2 pattern from logs\n"
    "                      (repeatable)\n";

#define MAX_REDACT 64

/* What `tl serve` hands the library beyond the addresses. */
typedef struct serve_opts {
    int multi_user;
    double rate_limit, http_timeout_s, kill_grace_s;
    int64_t max_queued;
    int64_t max_streams;
    const char *redact[MAX_REDACT + 1];
    int nredact;
} serve_opts_t;

enum {
    OPT_LISTEN = CLI_OPT_FIRST_LOCAL,
    OPT_NO_TCP,
    OPT_MULTI_USER,
    OPT_RATE_LIMIT,
    OPT_HTTP_TIMEOUT,
    OPT_KILL_GRACE,
    OPT_MAX_QUEUED,
    OPT_MAX_STREAMS,
    OPT_REDACT
};

/* The manager the signal handler stops; set before handlers exist. */
static tl_manager_t *volatile running_manager;

static void on_stop_signal(int sig)
{
    tl_manager_t *m = running_manager;

    if (m)
        tl_manager_stop(m);
}

static int install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL))
        return -1;
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
        return -1;
    return 0;
}

/* --rate-limit (a number), --http-timeout and --kill-grace (durations). */
static int parse_seconds(int opt, const char *arg, serve_opts_t *o)
{
    double v;
    if (opt == OPT_RATE_LIMIT) {
        char *end;
        v = strtod(arg, &end);
        if (*end || !(v > 0) || v > 1e9)
            return -1;
        o->rate_limit = v;
        return 0;
    }
    if (args_parse_duration(arg, &v) || v <= 0)
        return -1;
    if (opt == OPT_HTTP_TIMEOUT)
        o->http_timeout_s = v;
    else
        o->kill_grace_s = v;
    return 0;
}

/* Checks "HOST:PORT" (HOST may be "[v6]") and returns where HOST ends. */
static const char *check_listen(const char *listen)
{
    const char *colon = strrchr(listen, ':'), *p;

    if (!colon || colon == listen || colon[1] == '\0' || strlen(colon) > 6)
        return NULL;
    for (p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return NULL;
    if (atoi(colon + 1) > 65535)
        return NULL;
    return colon;
}

static int write_listen_file(const char *path, const char *host, int hostlen,
                             int port)
{
    char *tmp = cli_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd, rc = -1;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    if (dprintf(fd, "%.*s:%d\n", hostlen, host, port) < 0) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) || rename(tmp, path)) {
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Starts the server; when the default port is taken, takes a free one. */
static int start_server(tl_manager_t *m, const cli_t *cli, const char *listen,
                        int listen_given, const serve_opts_t *o,
                        tl_server_t **srv)
{
    tl_server_options_t so = {0};
    int rc;

    so.multi_user = o->multi_user;
    so.rate_limit = o->rate_limit;
    so.http_timeout_s = o->http_timeout_s;
    so.max_streams = (int)o->max_streams;
    so.socket_path = cli->socket_explicit ? cli->socket_path : NULL;
    so.listen = listen;
    rc = tl_server_start(m, &so, srv);
    if (rc && rc != TL_ENOMEM && !listen_given && *listen) {
        cli_warn("%s; taking a free port", tl_manager_errmsg(m));
        so.listen = "127.0.0.1:0";
        rc = tl_server_start(m, &so, srv);
    }
    if (rc)
        cli_error(CLI_FAIL, "cannot serve: %s", tl_manager_errmsg(m));
    return rc;
}

static void print_banner(tl_server_t *srv, const char *host, int hostlen)
{
    int port = tl_server_port(srv);

    printf("tasklight %s serving\n", TL_VERSION);
    printf("  socket:    %s\n", tl_server_socket_path(srv));
    if (port > 0)
        printf("  dashboard: http://%.*s:%d/?token=%s\n", hostlen, host, port,
               tl_server_token(srv));
    else
        printf("  dashboard: off (--no-tcp)\n");
    fflush(stdout);
}

static int serve(cli_t *cli, const char *listen, int listen_given,
                 const serve_opts_t *o)
{
    tl_manager_options_t mo = {0};
    tl_manager_t *m = NULL;
    tl_server_t *srv = NULL;
    char *listen_path = cli_xasprintf("%s/listen", cli->data_dir);
    const char *host_end = *listen ? check_listen(listen) : listen;
    int rc, hostlen = (int)(host_end - listen);

    if (cli_mkdir_p(cli->data_dir, 0700)) {
        rc = cli_error(CLI_FAIL, "cannot create %s: %s", cli->data_dir,
                       strerror(errno));
        goto out;
    }
    mo.data_dir = cli->data_dir;
    mo.kill_grace_s = o->kill_grace_s;
    mo.max_queued = o->max_queued;
    mo.redact_patterns = o->nredact ? o->redact : NULL;
    rc = tl_manager_open(&mo, &m);
    if (rc == TL_EBUSY) {
        rc = cli_error(CLI_FAIL, "another daemon is serving %s", cli->data_dir);
        goto out;
    }
    if (rc) {
        rc = cli_error(CLI_FAIL, "cannot open %s: %s", cli->data_dir,
                       m ? tl_manager_errmsg(m) : tl_strerror(rc));
        goto out;
    }
    rc = CLI_FAIL;
    if (start_server(m, cli, listen, listen_given, o, &srv))
        goto out;
    running_manager = m;
    if (install_signals()) {
        cli_error(CLI_FAIL, "cannot handle signals: %s", strerror(errno));
        goto out;
    }
    print_banner(srv, listen, hostlen);
    unlink(listen_path);
    if (tl_server_port(srv) > 0 &&
        write_listen_file(listen_path, listen, hostlen, tl_server_port(srv)))
        cli_warn("cannot write %s: %s", listen_path, strerror(errno));
    rc = tl_manager_run(m);
    if (rc)
        rc = cli_error(CLI_FAIL, "the loop failed: %s", tl_manager_errmsg(m));
    unlink(listen_path);
out:
    running_manager = NULL;
    tl_server_stop(srv);
    tl_manager_close(m);
    free(listen_path);
    return rc;
}

int cmd_serve(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"no-tcp", no_argument, NULL, OPT_NO_TCP},
        {"multi-user", no_argument, NULL, OPT_MULTI_USER},
        {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
        {"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
        {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
        {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
        {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
        {"redact", required_argument, NULL, OPT_REDACT},
        CLI_GLOBAL_OPTIONS,
    };
    const char *listen = DEFAULT_LISTEN;
    int c, listen_given = 0, no_tcp = 0;
    serve_opts_t o = {0};

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, usage)) != -1) {
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            listen_given = 1;
            break;
        case OPT_NO_TCP:
            no_tcp = 1;
            break;
        case OPT_MULTI_USER:
            o.multi_user = 1;
            break;
        case OPT_RATE_LIMIT:
        case OPT_HTTP_TIMEOUT:
        case OPT_KILL_GRACE:
            if (parse_seconds(c, optarg, &o))
                return cli_usage_error(usage, "invalid value '%s'", optarg);
            break;
        case OPT_MAX_QUEUED:
            if (args_parse_int(optarg, 1, INT64_MAX, &o.max_queued))
                return cli_usage_error(usage, "invalid --max-queued '%s'",
                                       optarg);
            break;
        case OPT_MAX_STREAMS:
            if (args_parse_int(optarg, 1, 1000000, &o.max_streams))
                return cli_usage_error(usage, "invalid --max-streams '%s'",
                                       optarg);
            break;
        case OPT_REDACT:
            if (o.nredact == MAX_REDACT)
                return cli_usage_error(usage, "at most %d --redact",
                                       MAX_REDACT);
            o.redact[o.nredact++] = optarg;
            break;
        default:
            return cli->rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (no_tcp)
        listen = "";
    else if (!check_listen(listen))
        return cli_usage_error(usage, "invalid --listen '%s' (use HOST:PORT)",
                               listen);
    return serve(cli, listen, listen_given, &o);
}
