/*
 * cmd_add.c -- `tl add`: submits a command task (argv, working directory
 * and the whole environment of the caller), starting a daemon when none
 * answers, and optionally waits for the task.
 *
 * DESIGN: the task runs with the caller's cwd and environment, as if run
 * from this shell, not the daemon's. The request is sent again after
 * starting a daemon only when the first attempt could not connect, so a
 * task is never submitted twice.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "wait.h"

extern char **environ;

static const char usage[] =
    "usage: tl add [options] [--] CMD [ARG...]\n"
    "\n"
    "Adds a task that runs CMD (no shell) in this directory with this\n"
    "environment. The -- is needed when CMD starts with '-'. Starts a\n"
    "daemon when none answers.\n"
    "\n"
    "options:\n"
    "  -p, --priority P   an integer or low, normal, high (higher first)\n"
    "  -g, --group G      the group (default \"default\")\n"
    "  -t, --title T      the title (default: the command line)\n"
    "      --kind K       a free-form kind (default \"command\")\n"
    "      --timeout DUR  fail the task after DUR (30s, 5m, 2h, ...)\n"
    "      --retries N    retry a failed task up to N times\n"
    "      --key K        a unique key: adding it again returns that task\n"
    "      --no-progress-parse  do not read progress from the output\n"
    "      --progress-regex RE  read progress with this PCRE2 pattern\n"
    "                     (groups percent, or current and total)\n"
    "  -w, --wait         wait for the task; exit with its exit code\n"
    "  -f, --follow       show its output live, then exit with its exit\n"
    "                     code\n"
    "      --print-id     print only the task id\n"
    "      --json         print the task as JSON\n";

enum {
    OPT_KIND = CLI_OPT_FIRST_LOCAL,
    OPT_TIMEOUT,
    OPT_RETRIES,
    OPT_KEY,
    OPT_PRINT_ID,
    OPT_JSON,
    OPT_NO_PROGRESS_PARSE,
    OPT_PROGRESS_REGEX,
};

typedef struct add_opts {
    json_t *body;
    int wait, follow, print_id, json;
    int no_progress_parse;
    const char *progress_regex;
} add_opts_t;

#define FOLLOW_TAIL 100000 /* lines printed before the stream started */

/* d as a JSON integer when it is whole, else as a real. */
static json_t *json_number_of(double d)
{
    if (d < 9.0e15 && d == (double)(json_int_t)d)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* Sets body[key] to the string s; a usage error when s is not UTF-8. */
/* The task reports with `tl progress`, `tl step`...: this tl's directory
 * goes at the end of the task's PATH, so `tl` is found there even when
 * it was run as ./build/tl, without shadowing one the user put first. */
static void reach_tl(json_t *env)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash || slash == self)
        return;
    *slash = '\0';
    const char *path = cli_json_str(env, "PATH");
    char *joined = path && *path ? cli_xasprintf("%s:%s", path, self)
                                 : cli_xasprintf("/usr/bin:/bin:%s", self);
    json_t *v = json_string(joined);
    if (v)
        json_object_set_new(env, "PATH", v);
    free(joined);
}

static int set_string(json_t *obj, const char *key, const char *s)
{
    json_t *v = json_string(s);

    if (!v)
        return cli_usage_error(usage, "the %s is not valid UTF-8", key);
    json_object_set_new(obj, key, v);
    return 0;
}

static int parse_option(int c, add_opts_t *o)
{
    int64_t n;
    double d;

    switch (c) {
    case 'p':
        if (args_parse_priority(optarg, &n))
            return cli_usage_error(usage,
                                   "invalid priority '%s' (an integer, or "
                                   "low, normal, high)",
                                   optarg);
        json_object_set_new(o->body, "priority", json_integer(n));
        return 0;
    case 'g':
        return set_string(o->body, "group", optarg);
    case 't':
        return set_string(o->body, "title", optarg);
    case OPT_KIND:
        return set_string(o->body, "kind", optarg);
    case OPT_KEY:
        return set_string(o->body, "key", optarg);
    case OPT_TIMEOUT:
        if (cli_opt_duration(usage, "--timeout", optarg, &d))
            return CLI_USAGE;
        json_object_set_new(o->body, "timeout_s", json_number_of(d));
        return 0;
    case OPT_RETRIES:
        if (cli_opt_int(usage, "--retries", optarg, 0, 1000, &n))
            return CLI_USAGE;
        json_object_set_new(o->body, "max_retries", json_integer(n));
        return 0;
    case 'w':
        o->wait = 1;
        return 0;
    case 'f':
        o->follow = 1;
        return 0;
    case OPT_PRINT_ID:
        o->print_id = 1;
        return 0;
    case OPT_JSON:
        o->json = 1;
        return 0;
    case OPT_NO_PROGRESS_PARSE:
        o->no_progress_parse = 1;
        return 0;
    case OPT_PROGRESS_REGEX:
        o->progress_regex = optarg;
        return 0;
    }
    return CLI_USAGE;
}

/* {"argv": [...], "cwd": ..., "env": {...}} */
static int build_command(int argc, char **argv, json_t **out)
{
    json_t *cmd = json_object(), *av = json_array(), *env = json_object();
    char *cwd = getcwd(NULL, 0), *eq, *name, **e;
    json_t *v;
    int i;

    if (!cmd || !av || !env)
        cli_xcheck(NULL);
    for (i = 0; i < argc; i++) {
        v = json_string(argv[i]);
        if (!v) {
            json_decref(cmd);
            json_decref(av);
            json_decref(env);
            free(cwd);
            return cli_usage_error(usage,
                                   "argument %d of the command is not valid "
                                   "UTF-8",
                                   i + 1);
        }
        json_array_append_new(av, v);
    }
    json_object_set_new(cmd, "argv", av);
    /* a cwd that is not UTF-8 is left out: the daemon's is used */
    if (cwd && (v = json_string(cwd)))
        json_object_set_new(cmd, "cwd", v);
    for (e = environ; *e; e++) {
        eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        name = cli_xcheck(strndup(*e, (size_t)(eq - *e)));
        /* the first of duplicate names wins, as for getenv() */
        if (!json_object_get(env, name) && (v = json_string(eq + 1)))
            json_object_set_new(env, name, v); /* skips non-UTF-8 names */
        free(name);
    }
    reach_tl(env);
    json_object_set_new(cmd, "env", env);
    free(cwd);
    *out = cmd;
    return 0;
}

static void print_added(const add_opts_t *o, const cli_http_t *res)
{
    long long id = (long long)cli_json_int(res->json, "id", 0);
    const char *key = cli_json_str(o->body, "key");

    /* with --follow, stdout is the command's output */
    FILE *out = o->follow ? stderr : stdout;

    if (o->json)
        cli_print_json(res->json);
    else if (o->print_id)
        printf("%lld\n", id);
    else if (res->status == 200 && key)
        fprintf(out, "task %lld exists already (key %s)\n", id, key);
    else
        fprintf(out, "added task %lld\n", id);
    fflush(stdout);
}

int cmd_add(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"priority", required_argument, NULL, 'p'},
        {"group", required_argument, NULL, 'g'},
        {"title", required_argument, NULL, 't'},
        {"kind", required_argument, NULL, OPT_KIND},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"key", required_argument, NULL, OPT_KEY},
        {"wait", no_argument, NULL, 'w'},
        {"follow", no_argument, NULL, 'f'},
        {"print-id", no_argument, NULL, OPT_PRINT_ID},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-progress-parse", no_argument, NULL, OPT_NO_PROGRESS_PARSE},
        {"progress-regex", required_argument, NULL, OPT_PROGRESS_REGEX},
        CLI_GLOBAL_OPTIONS,
    };
    add_opts_t o = {.body = cli_xcheck(json_object())};
    cli_http_t res = {0};
    json_t *cmd = NULL, *task = NULL;
    int c, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, "+:hp:g:t:wf", longopts, usage)) !=
           -1) {
        rc = c == CLI_OPT_EXIT ? cli->rc : parse_option(c, &o);
        if (rc || c == CLI_OPT_EXIT)
            goto out;
    }
    if (optind >= argc) {
        rc = cli_usage_error(usage, "no command given");
        goto out;
    }
    rc = build_command(argc - optind, argv + optind, &cmd);
    if (rc)
        goto out;
    if (o.no_progress_parse)
        json_object_set_new(cmd, "progress_parse", json_false());
    if (o.progress_regex)
        json_object_set_new(cmd, "progress_regex",
                            cli_xcheck(json_string(o.progress_regex)));
    json_object_set_new(o.body, "command", cmd);
    rc = cli_create_task(cli, o.body, o.json, &res); /* else only its id */
    if (rc)
        goto out;
    print_added(&o, &res);
    if (o.wait || o.follow) {
        follow_opts_t fo = {.logs = o.follow,
                            .split_streams = 1,
                            .log_tail = FOLLOW_TAIL,
                            .live = o.follow && cli_live_ok()};

        rc = cli_follow_task(cli, cli_json_int(res.json, "id", 0), &fo, &task);
        if (rc == CLI_OK)
            rc = cli_task_outcome(task, 1);
        json_decref(task);
    }
out:
    cli_http_free(&res);
    json_decref(o.body);
    return rc;
}
