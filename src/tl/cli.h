/*
 * cli.h -- what the files of the tl command share: the invocation context,
 * exit codes, error output, allocation, option parsing and the commands.
 *
 * Out-of-memory policy: the tool aborts with file and line (cli_x*()).
 */
#ifndef TL_CLI_H
#define TL_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes. */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,        /* a task failed, or the daemon answered an error */
    CLI_USAGE = 2,       /* bad command line */
    CLI_UNREACHABLE = 3, /* no daemon answers */
    CLI_NOT_FOUND = 4,   /* the daemon answered 404: no such task */
};

typedef struct cli {
    const char *data_dir_opt; /* --data-dir, else NULL */
    const char *socket_opt;   /* --socket, else NULL */
    int no_color;             /* --no-color */
    char *data_dir;           /* resolved by cli_resolve() */
    char *socket_path;
    int socket_explicit; /* given by --socket or TASKLIGHT_SOCKET */
    int tty;             /* stdout is a terminal */
    int color;           /* stdout is a tty, no NO_COLOR, no --no-color */
    int unicode;         /* the locale's charset is UTF-8 (bars, icons) */
    void *conn;          /* the kept-alive connection (client.c) */
    int rc;              /* exit code when cli_getopt() says so */
} cli_t;

/* ---- messages --------------------------------------------------------- */

/* "tl: error: MSG\n" on stderr; returns code, so callers can
 * `return cli_error(CLI_USAGE, ...)`. */
int cli_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- allocation: abort on failure ------------------------------------- */

#define cli_xmalloc(n) cli__xcheck(malloc(n), __FILE__, __LINE__)
#define cli_xstrdup(s) cli__xcheck(strdup(s), __FILE__, __LINE__)
#define cli_xcheck(p) cli__xcheck((p), __FILE__, __LINE__)
void *cli__xcheck(void *p, const char *file, int line);
char *cli_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- options ---------------------------------------------------------- */

enum {
    CLI_OPT_DATA_DIR = 0x100,
    CLI_OPT_SOCKET,
    CLI_OPT_NO_COLOR,
    CLI_OPT_FIRST_LOCAL, /* commands number their long-only options here */
    CLI_OPT_EXIT = -2,   /* cli_getopt(): stop, exit with cli->rc */
};

/* Every command takes these; end each longopts array with them. */
/* clang-format off */
#define CLI_GLOBAL_OPTIONS                                                     \
    {"data-dir", required_argument, NULL, CLI_OPT_DATA_DIR},                   \
    {"socket", required_argument, NULL, CLI_OPT_SOCKET},                       \
    {"no-color", no_argument, NULL, CLI_OPT_NO_COLOR},                         \
    {"help", no_argument, NULL, 'h'},                                          \
    {NULL, 0, NULL, 0}
/* clang-format on */

/* getopt_long() over a command's argv (argv[0] is its name; the caller
 * set optind = 0) that handles the global options and -h/--help itself.
 * shortopts starts with ":" (permuting) or "+:" (stop at the first
 * operand). Returns the next command option; -1 at the end, with optind
 * at the first operand and cli_resolve() done; or CLI_OPT_EXIT after
 * printing help (cli->rc 0) or an error (cli->rc non-zero). */
/* --data-dir, --socket, --no-color: the options every command takes. */
void cli_global_option(cli_t *cli, int c, const char *arg);
int cli_getopt(cli_t *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *usage);

/* Prints "tl: error: MSG" and the usage line; returns CLI_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses an option value or exits through cli_usage_error(). */
int cli_opt_duration(const char *usage, const char *opt, const char *s,
                     double *out);
int cli_opt_int(const char *usage, const char *opt, const char *s, int64_t min,
                int64_t max, int64_t *out);
/* Parses task ids argv[0..argc) into a malloc'd array. */
int cli_parse_ids(const char *usage, int argc, char **argv, int64_t **ids);

/* Resolves the data directory and the socket path (options, environment,
 * defaults) and decides on colour. Idempotent; returns an exit code. */
int cli_resolve(cli_t *cli);

/* Makes dir and missing parents; the last one gets mode. 0 or -1 (errno). */
int cli_mkdir_p(const char *dir, unsigned mode);

/* ---- commands: each returns the exit code ----------------------------- */

int cmd_serve(cli_t *cli, int argc, char **argv);
int cmd_add(cli_t *cli, int argc, char **argv);
int cmd_ls(cli_t *cli, int argc, char **argv);
int cmd_show(cli_t *cli, int argc, char **argv);
int cmd_log(cli_t *cli, int argc, char **argv);
int cmd_wait(cli_t *cli, int argc, char **argv);
int cmd_action(cli_t *cli, int argc, char **argv); /* cancel, pause, ... */
int cmd_parallel(cli_t *cli, int argc, char **argv);
int cmd_clean(cli_t *cli, int argc, char **argv);
int cmd_token(cli_t *cli, int argc, char **argv);
int cmd_stats(cli_t *cli, int argc, char **argv);
int cmd_watch(cli_t *cli, int argc, char **argv);
int cmd_demo(cli_t *cli, int argc, char **argv);
int cmd_complete_ids(cli_t *cli, int argc, char **argv); /* hidden */

/* In-task reporters (cmd_report.c) and tracked tasks (cmd_track.c). */
int cmd_progress(cli_t *cli, int argc, char **argv);
int cmd_step(cli_t *cli, int argc, char **argv);
int cmd_note(cli_t *cli, int argc, char **argv);
int cmd_meta(cli_t *cli, int argc, char **argv);
int cmd_result(cli_t *cli, int argc, char **argv);
int cmd_log_line(cli_t *cli, int argc, char **argv);
int cmd_track(cli_t *cli, int argc, char **argv);
int cmd_done(cli_t *cli, int argc, char **argv);

/* Starts a daemon for cli's data directory and waits until it answers.
 * Returns an exit code (CLI_UNREACHABLE when it does not come up). */
int cli_spawn_daemon(cli_t *cli);

/* Does colour belong on stream fd (STDOUT_FILENO or STDERR_FILENO): a
 * terminal, no NO_COLOR, no --no-color? */
int cli_color_on(const cli_t *cli, int fd);

#endif
