/*
 * cli.c -- the shared plumbing of the tl command: error messages,
 * allocation that aborts, option parsing with the global options, and
 * finding the instance (data directory, socket) a command talks to.
 *
 * DESIGN: the global options (--data-dir, --socket, --no-color) may come
 * before the command or among its options, so every command parses them
 * through cli_getopt(), and the instance is resolved once all options are
 * read. Options win over the environment, which wins over the defaults.
 */
#include "cli.h"

#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"

/* ---- messages and allocation ------------------------------------------ */

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("tl: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("tl: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void *cli__xcheck(void *p, const char *file, int line)
{
    if (!p) {
        fprintf(stderr, "tl: fatal: out of memory at %s:%d\n", file, line);
        abort();
    }
    return p;
}

char *cli_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return cli_xcheck(n < 0 ? NULL : s);
}

/* ---- options ---------------------------------------------------------- */

/* The first line of a usage text, for error messages. */
static void print_usage_line(const char *usage)
{
    const char *nl = strchr(usage, '\n');
    int n = nl ? (int)(nl - usage) : (int)strlen(usage);

    fprintf(stderr, "%.*s\n", n, usage);
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("tl: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (usage)
        print_usage_line(usage);
    return CLI_USAGE;
}

/* The option getopt_long() just complained about, as the user wrote it. */
static const char *bad_option(char **argv, char *buf, size_t size)
{
    const char *arg = optind > 0 ? argv[optind - 1] : NULL;

    if (arg && strncmp(arg, "--", 2) == 0) {
        snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
        return buf;
    }
    if (optopt > 0 && optopt < 0x100) {
        snprintf(buf, size, "-%c", optopt);
        return buf;
    }
    return arg ? arg : "?";
}

void cli_global_option(cli_t *cli, int c, const char *arg)
{
    if (c == CLI_OPT_DATA_DIR)
        cli->data_dir_opt = arg;
    else if (c == CLI_OPT_SOCKET)
        cli->socket_opt = arg;
    else if (c == CLI_OPT_NO_COLOR)
        cli->no_color = 1;
}

int cli_getopt(cli_t *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *usage)
{
    char buf[128];
    int c;

    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, shortopts, longopts, NULL);
        switch (c) {
        case CLI_OPT_DATA_DIR:
        case CLI_OPT_SOCKET:
        case CLI_OPT_NO_COLOR:
            cli_global_option(cli, c, optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            cli->rc = CLI_OK;
            return CLI_OPT_EXIT;
        case '?':
            cli->rc = cli_usage_error(usage, "unknown option '%s'",
                                      bad_option(argv, buf, sizeof(buf)));
            return CLI_OPT_EXIT;
        case ':':
            cli->rc = cli_usage_error(usage, "option '%s' needs a value",
                                      bad_option(argv, buf, sizeof(buf)));
            return CLI_OPT_EXIT;
        case -1:
            cli->rc = cli_resolve(cli);
            return cli->rc ? CLI_OPT_EXIT : -1;
        default:
            return c;
        }
    }
}

int cli_opt_duration(const char *usage, const char *opt, const char *s,
                     double *out)
{
    if (args_parse_duration(s, out))
        return cli_usage_error(usage,
                               "invalid duration '%s' for %s (use e.g. 30s, "
                               "500ms, 1.5m, 2h, 1d)",
                               s, opt);
    return 0;
}

int cli_opt_int(const char *usage, const char *opt, const char *s, int64_t min,
                int64_t max, int64_t *out)
{
    if (args_parse_int(s, min, max, out))
        return cli_usage_error(usage,
                               "invalid value '%s' for %s (an integer from "
                               "%lld to %lld)",
                               s, opt, (long long)min, (long long)max);
    return 0;
}

int cli_parse_ids(const char *usage, int argc, char **argv, int64_t **ids)
{
    int i;

    if (argc <= 0)
        return cli_usage_error(usage, "no task id given");
    *ids = cli_xmalloc(sizeof(**ids) * (size_t)argc);
    for (i = 0; i < argc; i++) {
        if (args_parse_id(argv[i], &(*ids)[i])) {
            free(*ids);
            *ids = NULL;
            return cli_usage_error(usage, "invalid task id '%s'", argv[i]);
        }
    }
    return 0;
}

/* ---- the instance ----------------------------------------------------- */

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

/* path made absolute against the working directory; malloc'd. */
static char *absolute(const char *path)
{
    char *cwd, *abs;

    if (path[0] == '/')
        return cli_xstrdup(path);
    cwd = getcwd(NULL, 0);
    if (!cwd)
        return cli_xstrdup(path);
    abs = cli_xasprintf("%s/%s", cwd, path);
    free(cwd);
    return abs;
}

static char *default_data_dir(void)
{
    const char *xdg = nonempty_env("XDG_DATA_HOME");
    const char *home = nonempty_env("HOME");
    struct passwd *pw;

    /* the XDG spec ignores relative paths */
    if (xdg && xdg[0] == '/')
        return cli_xasprintf("%s/tasklight", xdg);
    if (!home) {
        pw = getpwuid(getuid());
        home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    return cli_xasprintf("%s/.local/share/tasklight", home);
}

int cli_resolve(cli_t *cli)
{
    const char *dir = cli->data_dir_opt, *sock = cli->socket_opt;
    char *def;

    if (cli->data_dir)
        return CLI_OK;
    if (!dir)
        dir = nonempty_env("TASKLIGHT_DATA_DIR");
    if (dir && !*dir)
        return cli_error(CLI_USAGE, "the data directory is empty");
    if (dir) {
        cli->data_dir = absolute(dir);
    } else {
        def = default_data_dir();
        if (!def)
            return cli_error(CLI_USAGE, "cannot find the home directory; "
                                        "use --data-dir");
        cli->data_dir = def;
    }
    if (!sock)
        sock = nonempty_env("TASKLIGHT_SOCKET");
    if (sock && !*sock)
        return cli_error(CLI_USAGE, "the socket path is empty");
    cli->socket_explicit = sock != NULL;
    cli->socket_path = sock ? absolute(sock)
                            : cli_xasprintf("%s/tasklight.sock", cli->data_dir);
    if (strlen(cli->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return cli_error(
            CLI_USAGE, "the socket path is too long (over %zu bytes): %s",
            sizeof(((struct sockaddr_un *)0)->sun_path) - 1, cli->socket_path);
    cli->tty = isatty(STDOUT_FILENO);
    cli->color = cli_color_on(cli, STDOUT_FILENO);
    cli->unicode = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    return CLI_OK;
}

int cli_color_on(const cli_t *cli, int fd)
{
    /* no-color.org: set and non-empty */
    const char *no = getenv("NO_COLOR");

    return isatty(fd) && !(no && *no) && !cli->no_color;
}

int cli_mkdir_p(const char *dir, unsigned mode)
{
    char *p = cli_xstrdup(dir), *s;
    struct stat st;
    int rc = 0;

    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) {
            rc = -1;
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, (mode_t)mode) && errno != EEXIST) {
        rc = -1;
        goto out;
    }
    if (stat(p, &st) || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
    }
out:
    free(p);
    return rc;
}
