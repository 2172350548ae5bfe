/*
 * spawn.c -- starts a daemon when `tl add` finds none: `tl serve` in a new
 * session, its output appended to DATA_DIR/daemon.log.
 *
 * DESIGN: the daemon is this very binary (/proc/self/exe), so a client
 * never starts a daemon of another version. It runs in its own session
 * (no terminal signals reach it), with stdin from /dev/null, in "/" (the
 * data directory is absolute), with no descriptor of ours but 0-2. The
 * caller then polls GET /healthz. Two clients may race to start one: the
 * loser exits on the data directory's lock, and the winner answers both,
 * so a child that exited is only an error once the daemon stays silent.
 * A create is sent again only when the first try could not connect
 * (nothing was sent), so a task is never created twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define START_TIMEOUT_MS 5000
#define POLL_INTERVAL_MS 20
/* After the child exited, how long another daemon may take to answer. */
#define RACE_GRACE_MS 1000

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* In the child: becomes the daemon or _exit()s. */
static void exec_daemon(const cli_t *cli, int in_fd, int log_fd)
{
    char *argv[] = {"tl", "serve", "--data-dir", cli->data_dir,
                    NULL, NULL,    NULL};

    if (cli->socket_explicit) {
        argv[4] = "--socket";
        argv[5] = cli->socket_path;
    }
    if (setsid() < 0 || dup2(in_fd, STDIN_FILENO) < 0 ||
        dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
        _exit(127);
    if (chdir("/")) {
        /* harmless: the paths are absolute */
    }
    close_range(3, ~0U, 0);
    execv("/proc/self/exe", argv);
    dprintf(STDERR_FILENO, "tl: error: cannot run /proc/self/exe: %s\n",
            strerror(errno));
    _exit(127);
}

static pid_t fork_daemon(const cli_t *cli, const char *log_path)
{
    int in_fd, log_fd;
    pid_t pid;

    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (in_fd < 0 || log_fd < 0) {
        cli_error(CLI_UNREACHABLE, "cannot open %s: %s",
                  in_fd < 0 ? "/dev/null" : log_path, strerror(errno));
        pid = -1;
        goto out;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0)
        exec_daemon(cli, in_fd, log_fd);
    if (pid < 0)
        cli_error(CLI_UNREACHABLE, "cannot start the daemon: %s",
                  strerror(errno));
out:
    if (in_fd >= 0)
        close(in_fd);
    if (log_fd >= 0)
        close(log_fd);
    return pid;
}

/* Polls GET /healthz until it answers; 0, or -1 when it never did. */
static int await_daemon(cli_t *cli, pid_t pid)
{
    long long deadline = mono_ms() + START_TIMEOUT_MS, exited_at = 0;
    cli_http_t res;
    int rc, status;

    for (;;) {
        rc = cli_http(cli, "GET", "/healthz", NULL, &res);
        cli_http_free(&res);
        if (rc == CLI_OK)
            return 0;
        if (!exited_at && waitpid(pid, &status, WNOHANG) == pid)
            exited_at = mono_ms();
        if (exited_at && mono_ms() - exited_at > RACE_GRACE_MS)
            return -1;
        if (mono_ms() >= deadline)
            return -1;
        sleep_ms(POLL_INTERVAL_MS);
    }
}

int cli_spawn_daemon(cli_t *cli)
{
    char *log_path = cli_xasprintf("%s/daemon.log", cli->data_dir);
    pid_t pid;
    int rc = CLI_UNREACHABLE;

    if (cli_mkdir_p(cli->data_dir, 0700)) {
        cli_error(rc, "cannot create %s: %s", cli->data_dir, strerror(errno));
        goto out;
    }
    pid = fork_daemon(cli, log_path);
    if (pid < 0)
        goto out;
    if (await_daemon(cli, pid)) {
        cli_error(rc, "the daemon did not start; see %s", log_path);
        goto out;
    }
    rc = CLI_OK;
out:
    free(log_path);
    return rc;
}

static int post_task(cli_t *cli, json_t *body, int whole, cli_http_t *res)
{
    return whole ? cli_http(cli, "POST", "/api/tasks", body, res)
                 : cli_http_brief(cli, "POST", "/api/tasks", body, res);
}

int cli_create_task(cli_t *cli, json_t *body, int whole, cli_http_t *res)
{
    int rc = post_task(cli, body, whole, res);

    if (rc == CLI_UNREACHABLE && res->connect_failed) {
        cli_http_free(res);
        rc = cli_spawn_daemon(cli);
        if (rc)
            return rc;
        rc = post_task(cli, body, whole, res);
    }
    if (rc == CLI_OK && !json_is_object(res->json)) {
        snprintf(res->errmsg, sizeof(res->errmsg),
                 "the daemon's answer is not a task");
        rc = CLI_FAIL;
    }
    if (rc)
        cli_error(rc, "%s", res->errmsg);
    return rc;
}
