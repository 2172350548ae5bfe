/*
 * cmd_report.c -- the in-task reporters: `tl progress`, `tl step`,
 * `tl note`, `tl meta`, `tl result` and `tl log-line`. A command task runs
 * them to tell the daemon how it is doing; any script may, with --task.
 *
 * DESIGN: a reporter finds its task in TASKLIGHT_TASK_ID (or --task) and
 * the daemon in TASKLIGHT_SOCKET (or the usual instance), both set by the
 * daemon in a task's environment, and sends one request: it must be cheap
 * enough to call in a loop. Reporters print nothing on success, because
 * their stdout is usually the task's own log; errors go to stderr with a
 * non-zero exit. `tl log-line` without TEXT reads stdin and sends what
 * each read() brings as one request, so piped output shows up live.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "report.h"

enum {
    OPT_TASK = CLI_OPT_FIRST_LOCAL,
    OPT_CURRENT,
    OPT_TOTAL,
    OPT_UNIT,
    OPT_ID,
    OPT_STATE,
    OPT_PROGRESS,
    OPT_ERROR,
    OPT_STREAM,
    OPT_TEE,
};

#define TASK_HELP "      --task ID    the task (default: $TASKLIGHT_TASK_ID)\n"

/* ---- shared ----------------------------------------------------------- */

int report_task_id(const char *usage, const char *opt, int64_t *id)
{
    const char *env = getenv("TASKLIGHT_TASK_ID");

    if (opt) {
        if (args_parse_id(opt, id))
            return cli_usage_error(usage, "invalid task id '%s'", opt);
        return CLI_OK;
    }
    if (!env || !*env)
        return cli_error(CLI_USAGE,
                         "no task: set TASKLIGHT_TASK_ID or pass --task");
    if (args_parse_id(env, id))
        return cli_error(CLI_USAGE, "invalid TASKLIGHT_TASK_ID '%s'", env);
    return CLI_OK;
}

char *report_join(int argc, char **argv)
{
    size_t len = 1, i;
    char *s;

    for (i = 0; i < (size_t)argc; i++)
        len += strlen(argv[i]) + 1;
    s = cli_xmalloc(len);
    s[0] = '\0';
    for (i = 0; i < (size_t)argc; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

int report_set_string(const char *usage, json_t *obj, const char *key,
                      const char *s)
{
    json_t *v = json_string(s);

    if (!v)
        return cli_usage_error(usage, "the %s is not valid UTF-8", key);
    json_object_set_new(obj, key, v);
    return CLI_OK;
}

int report_patch(cli_t *cli, int64_t id, json_t *body, json_t **task)
{
    char *path = cli_xasprintf("/api/tasks/%lld", (long long)id);
    int rc = cli_call(cli, "PATCH", path, body, task);

    free(path);
    return rc;
}

/* PATCH body to the task; the answer is not needed. */
static int patch(cli_t *cli, int64_t id, json_t *body)
{
    int rc = report_patch(cli, id, body, NULL);

    json_decref(body);
    return rc;
}

/* ---- tl progress ------------------------------------------------------ */

static const char progress_usage[] =
    "usage: tl progress PERCENT [MESSAGE...]\n"
    "       tl progress CURRENT/TOTAL [MESSAGE...]\n"
    "       tl progress [--current N] [--total N] [--unit U] [MESSAGE...]\n"
    "\n"
    "Reports the progress of this task (in a task run by tasklight) or of\n"
    "--task ID: a percent (45, 45.5%), or a count (50/154, --current,\n"
    "--total), and optionally a status message.\n"
    "\n"
    "options:\n"
    "      --current N  how many units are done\n"
    "      --total N    how many units there are\n"
    "      --unit U     what a unit is (files, layers, tasks, ...)\n" TASK_HELP;

typedef struct progress_opts {
    const char *task;
    json_t *body;
    int counted; /* --current or --total given */
} progress_opts_t;

static int progress_option(int c, progress_opts_t *o)
{
    double d;
    const char *name = c == OPT_CURRENT ? "current" : "total";

    switch (c) {
    case OPT_TASK:
        o->task = optarg;
        return 0;
    case OPT_CURRENT:
    case OPT_TOTAL:
        if (args_parse_number(optarg, 0, 1e15, &d))
            return cli_usage_error(progress_usage,
                                   "invalid value '%s' for --%s (a number "
                                   ">= 0)",
                                   optarg, name);
        json_object_set_new(o->body, name, json_real(d));
        o->counted = 1;
        return 0;
    case OPT_UNIT:
        return report_set_string(progress_usage, o->body, "unit", optarg);
    }
    return CLI_USAGE;
}

/* The first operand, when no --current/--total: a percent or a count. */
static int progress_amount(progress_opts_t *o, const char *s)
{
    double p, cur, total;

    if (args_parse_percent(s, &p) == 0) {
        json_object_set_new(o->body, "progress", json_real(p));
        return 0;
    }
    if (args_parse_fraction(s, &cur, &total) == 0) {
        json_object_set_new(o->body, "current", json_real(cur));
        json_object_set_new(o->body, "total", json_real(total));
        return 0;
    }
    return cli_usage_error(progress_usage,
                           "invalid progress '%s' (a percent 0..100 like 45 "
                           "or 45%%, or a count like 50/154)",
                           s);
}

int cmd_progress(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        {"current", required_argument, NULL, OPT_CURRENT},
        {"total", required_argument, NULL, OPT_TOTAL},
        {"unit", required_argument, NULL, OPT_UNIT},
        CLI_GLOBAL_OPTIONS,
    };
    progress_opts_t o = {.body = cli_xcheck(json_object())};
    char *msg;
    int64_t id;
    int c, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, progress_usage)) !=
           -1) {
        rc = c == CLI_OPT_EXIT ? cli->rc : progress_option(c, &o);
        if (rc || c == CLI_OPT_EXIT)
            goto out;
    }
    if (!o.counted && optind >= argc) {
        rc = cli_usage_error(progress_usage, "no progress given");
        goto out;
    }
    if (!o.counted && (rc = progress_amount(&o, argv[optind++])))
        goto out;
    if (optind < argc) {
        msg = report_join(argc - optind, argv + optind);
        rc = report_set_string(progress_usage, o.body, "message", msg);
        free(msg);
        if (rc)
            goto out;
    }
    if ((rc = report_task_id(progress_usage, o.task, &id)))
        goto out;
    rc = patch(cli, id, json_incref(o.body));
out:
    json_decref(o.body);
    return rc;
}

/* ---- tl step ---------------------------------------------------------- */

static const char step_usage[] =
    "usage: tl step NAME... [--id ID] [--state S] [--progress P]\n"
    "               [--error TEXT]\n"
    "\n"
    "Adds a substep to this task, or updates it when a substep with that id\n"
    "exists already. A new substep is running unless --state says else.\n"
    "\n"
    "options:\n"
    "      --id ID        the substep's id (default: the name, with '/' as\n"
    "                     '-', at most 64 bytes)\n"
    "      --state S      queued, running, completed, failed or cancelled\n"
    "      --progress P   its progress, a percent 0..100\n"
    "      --error TEXT   why it failed\n" TASK_HELP;

#define STEP_ID_MAX 64

/* The default id of a substep: its name, '/' replaced, cut to 64 bytes on
 * a character boundary. malloc'd. */
static char *step_id_of(const char *name)
{
    size_t n = strlen(name), i;
    char *id;

    if (n > STEP_ID_MAX) {
        n = STEP_ID_MAX;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    id = cli_xcheck(strndup(name, n));
    for (i = 0; id[i]; i++)
        if (id[i] == '/')
            id[i] = '-';
    return id;
}

static int step_option(int c, json_t *body, const char **task)
{
    static const char *const states[] = {"queued", "running", "completed",
                                         "failed", "cancelled"};
    double p;
    size_t i;

    switch (c) {
    case OPT_TASK:
        *task = optarg;
        return 0;
    case OPT_ID:
        if (!*optarg || strchr(optarg, '/') || strlen(optarg) > STEP_ID_MAX)
            return cli_usage_error(step_usage,
                                   "invalid substep id '%s' (1 to %d bytes, "
                                   "no '/')",
                                   optarg, STEP_ID_MAX);
        return report_set_string(step_usage, body, "id", optarg);
    case OPT_STATE:
        for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
            if (strcmp(optarg, states[i]) == 0)
                return report_set_string(step_usage, body, "state", optarg);
        return cli_usage_error(step_usage,
                               "invalid state '%s' (queued, running, "
                               "completed, failed or cancelled)",
                               optarg);
    case OPT_PROGRESS:
        if (args_parse_percent(optarg, &p))
            return cli_usage_error(
                step_usage, "invalid progress '%s' (a percent 0..100)", optarg);
        json_object_set_new(body, "progress", json_real(p));
        return 0;
    case OPT_ERROR:
        return report_set_string(step_usage, body, "error", optarg);
    }
    return CLI_USAGE;
}

/* POST the substep; when its id exists already, PATCH it instead. */
static int send_step(cli_t *cli, int64_t id, json_t *body)
{
    char *path = cli_xasprintf("/api/tasks/%lld/substeps", (long long)id);
    char *sid, *spath;
    cli_http_t res;
    int rc;

    rc = cli_http(cli, "POST", path, body, &res);
    free(path);
    if (rc == CLI_FAIL && res.status == 409 &&
        strstr(res.errmsg, "exists already")) {
        cli_http_free(&res);
        sid = cli_url_escape(cli, cli_json_str(body, "id"));
        spath =
            cli_xasprintf("/api/tasks/%lld/substeps/%s", (long long)id, sid);
        json_object_del(body, "id");
        rc = cli_http(cli, "PATCH", spath, body, &res);
        free(spath);
        free(sid);
    }
    if (rc)
        cli_error(rc, "%s", res.errmsg);
    cli_http_free(&res);
    return rc;
}

int cmd_step(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        {"id", required_argument, NULL, OPT_ID},
        {"state", required_argument, NULL, OPT_STATE},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"error", required_argument, NULL, OPT_ERROR},
        CLI_GLOBAL_OPTIONS,
    };
    json_t *body = cli_xcheck(json_object());
    const char *task = NULL;
    char *name = NULL, *sid;
    int64_t id;
    int c, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, step_usage)) !=
           -1) {
        rc = c == CLI_OPT_EXIT ? cli->rc : step_option(c, body, &task);
        if (rc || c == CLI_OPT_EXIT)
            goto out;
    }
    if (optind >= argc) {
        rc = cli_usage_error(step_usage, "no substep name given");
        goto out;
    }
    name = report_join(argc - optind, argv + optind);
    if (!*name) {
        rc = cli_usage_error(step_usage, "the substep name is empty");
        goto out;
    }
    if ((rc = report_set_string(step_usage, body, "name", name)))
        goto out;
    if (!json_object_get(body, "id")) {
        sid = step_id_of(name);
        json_object_set_new(body, "id", cli_xcheck(json_string(sid)));
        free(sid);
    }
    if ((rc = report_task_id(step_usage, task, &id)))
        goto out;
    rc = send_step(cli, id, body);
out:
    free(name);
    json_decref(body);
    return rc;
}

/* ---- tl note ---------------------------------------------------------- */

static const char note_usage[] =
    "usage: tl note MESSAGE...\n"
    "\n"
    "Sets this task's status message (what tl ls and tl watch show).\n"
    "\n"
    "options:\n" TASK_HELP;

int cmd_note(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        CLI_GLOBAL_OPTIONS,
    };
    const char *task = NULL;
    json_t *body;
    char *msg;
    int64_t id;
    int c, rc;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, note_usage)) !=
           -1) {
        if (c != OPT_TASK)
            return cli->rc;
        task = optarg;
    }
    if (optind >= argc)
        return cli_usage_error(note_usage, "no message given");
    if ((rc = report_task_id(note_usage, task, &id)))
        return rc;
    body = cli_xcheck(json_object());
    msg = report_join(argc - optind, argv + optind);
    rc = report_set_string(note_usage, body, "message", msg);
    free(msg);
    if (rc) {
        json_decref(body);
        return rc;
    }
    return patch(cli, id, body);
}

/* ---- tl meta ---------------------------------------------------------- */

static const char meta_usage[] =
    "usage: tl meta KEY=VALUE...\n"
    "\n"
    "Merges KEY=VALUE pairs into this task's metadata. A VALUE that parses\n"
    "as JSON is taken as JSON (42, true, [1,2], {\"a\":1}, \"text\"); any\n"
    "other VALUE is a string. KEY=null removes KEY.\n"
    "\n"
    "options:\n" TASK_HELP;

json_t *report_json_or_string(const char *s)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);

    return v ? v : json_string(s);
}

int cmd_meta(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        CLI_GLOBAL_OPTIONS,
    };
    const char *task = NULL;
    json_t *meta, *v;
    char *key;
    int64_t id;
    int c, i, k;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, meta_usage)) !=
           -1) {
        if (c != OPT_TASK)
            return cli->rc;
        task = optarg;
    }
    if (optind >= argc)
        return cli_usage_error(meta_usage, "no KEY=VALUE given");
    meta = cli_xcheck(json_object());
    for (i = optind; i < argc; i++) {
        k = args_split_kv(argv[i]);
        key = k < 0 ? NULL : cli_xcheck(strndup(argv[i], (size_t)k));
        v = key ? report_json_or_string(argv[i] + k + 1) : NULL;
        if (!v || json_object_set_new(meta, key, v)) {
            free(key);
            json_decref(meta);
            return cli_usage_error(meta_usage,
                                   k < 0 ? "'%s' is not KEY=VALUE"
                                         : "'%s' is not valid UTF-8",
                                   argv[i]);
        }
        free(key);
    }
    if ((c = report_task_id(meta_usage, task, &id))) {
        json_decref(meta);
        return c;
    }
    return patch(cli, id, cli_xcheck(json_pack("{so}", "metadata", meta)));
}

/* ---- tl result -------------------------------------------------------- */

static const char result_usage[] =
    "usage: tl result JSON\n"
    "\n"
    "Sets this task's result: any JSON value ('{\"rows\": 42}', '\"ok\"',\n"
    "3.5). JSON '-' reads the value from stdin.\n"
    "\n"
    "options:\n" TASK_HELP;

int report_parse_json(const char *usage, const char *what, const char *s,
                      json_t **out)
{
    json_error_t err;

    if (strcmp(s, "-") == 0)
        *out = json_loadf(stdin, JSON_DECODE_ANY, &err);
    else
        *out = json_loads(s, JSON_DECODE_ANY, &err);
    if (!*out)
        return cli_usage_error(usage, "the %s is not JSON: %s (at column %d)",
                               what, err.text, err.column);
    return CLI_OK;
}

int cmd_result(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        CLI_GLOBAL_OPTIONS,
    };
    const char *task = NULL;
    json_t *v;
    int64_t id;
    int c, rc;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, result_usage)) !=
           -1) {
        if (c != OPT_TASK)
            return cli->rc;
        task = optarg;
    }
    if (argc - optind != 1)
        return cli_usage_error(result_usage, "%s",
                               optind >= argc
                                   ? "no result given"
                                   : "one JSON value (quote it for the shell)");
    if ((rc = report_task_id(result_usage, task, &id)))
        return rc;
    if ((rc = report_parse_json(result_usage, "result", argv[optind], &v)))
        return rc;
    return patch(cli, id, cli_xcheck(json_pack("{so}", "result", v)));
}

/* ---- tl log-line ------------------------------------------------------ */

static const char log_line_usage[] =
    "usage: tl log-line [--stream S] [--tee] [TEXT...]\n"
    "\n"
    "Appends TEXT as one line to this task's log; without TEXT, appends\n"
    "each line read from stdin (sent as it arrives).\n"
    "\n"
    "options:\n"
    "      --stream S   stdout (default), stderr or info\n"
    "      --tee        also copy stdin to stdout\n" TASK_HELP;

#define READ_CHUNK 65536
#define LINE_MAX_BYTES 65536 /* a longer line is sent in pieces */
#define BATCH_LINES 1000
#define BATCH_BYTES (512 * 1024)

typedef struct log_batch {
    cli_t *cli;
    int64_t id;
    const char *stream;
    json_t *lines;
    size_t bytes;
} log_batch_t;

static int batch_flush(log_batch_t *b)
{
    char *path;
    json_t *body;
    int rc;

    if (!json_array_size(b->lines))
        return CLI_OK;
    path = cli_xasprintf("/api/tasks/%lld/logs", (long long)b->id);
    body =
        cli_xcheck(json_pack("{sOss}", "lines", b->lines, "stream", b->stream));
    rc = cli_call(b->cli, "POST", path, body, NULL);
    json_decref(body);
    free(path);
    json_array_clear(b->lines);
    b->bytes = 0;
    return rc;
}

static int batch_add(log_batch_t *b, const char *s, size_t n)
{
    size_t len;
    char *fixed;

    if (n && s[n - 1] == '\r')
        n--; /* CRLF input */
    fixed = cli_xcheck(args_utf8_fix(s, n, &len));
    json_array_append_new(b->lines, cli_xcheck(json_stringn(fixed, len)));
    free(fixed);
    b->bytes += len;
    if (json_array_size(b->lines) >= BATCH_LINES || b->bytes >= BATCH_BYTES)
        return batch_flush(b);
    return CLI_OK;
}

/* Splits buf[0..*len) into lines; keeps an unfinished one at the start. */
static int batch_lines(log_batch_t *b, char *buf, size_t *len, int eof)
{
    size_t start = 0, i;
    int rc = CLI_OK;

    for (i = 0; i < *len && !rc; i++) {
        if (buf[i] != '\n')
            continue;
        rc = batch_add(b, buf + start, i - start);
        start = i + 1;
    }
    if (!rc && *len - start > 0 && (eof || *len - start >= LINE_MAX_BYTES)) {
        rc = batch_add(b, buf + start, *len - start);
        start = *len;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return rc;
}

static int log_stdin(log_batch_t *b, int tee)
{
    char *buf = cli_xmalloc(LINE_MAX_BYTES + READ_CHUNK);
    size_t len = 0;
    ssize_t n;
    int rc = CLI_OK;

    for (;;) {
        n = read(STDIN_FILENO, buf + len, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cli_error(CLI_FAIL, "cannot read stdin: %s", strerror(errno));
            break;
        }
        if (tee && n > 0) {
            fwrite(buf + len, 1, (size_t)n, stdout);
            fflush(stdout);
        }
        len += (size_t)n;
        rc = batch_lines(b, buf, &len, n == 0);
        if (!rc)
            rc = batch_flush(b); /* what this read brought, at once */
        if (rc || n == 0)
            break;
    }
    free(buf);
    return rc;
}

int cmd_log_line(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"task", required_argument, NULL, OPT_TASK},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"tee", no_argument, NULL, OPT_TEE},
        CLI_GLOBAL_OPTIONS,
    };
    log_batch_t b = {.cli = cli, .stream = "stdout"};
    const char *task = NULL;
    char *text;
    size_t len;
    int c, rc, tee = 0;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, log_line_usage)) !=
           -1) {
        if (c == OPT_TASK) {
            task = optarg;
        } else if (c == OPT_TEE) {
            tee = 1;
        } else if (c == OPT_STREAM) {
            if (strcmp(optarg, "stdout") && strcmp(optarg, "stderr") &&
                strcmp(optarg, "info"))
                return cli_usage_error(log_line_usage,
                                       "invalid stream '%s' (stdout, stderr "
                                       "or info)",
                                       optarg);
            b.stream = optarg;
        } else {
            return cli->rc;
        }
    }
    if ((rc = report_task_id(log_line_usage, task, &b.id)))
        return rc;
    b.lines = cli_xcheck(json_array());
    if (optind < argc) {
        text = report_join(argc - optind, argv + optind);
        len = strlen(text);
        rc = batch_lines(&b, text, &len, 1); /* a line per '\n' in TEXT */
        if (!rc)
            rc = batch_flush(&b);
        free(text);
    } else {
        rc = log_stdin(&b, tee);
    }
    json_decref(b.lines);
    return rc;
}
