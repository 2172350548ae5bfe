/*
 * cmd_stats.c -- `tl stats`: how many tasks are in each state, the groups,
 * and per kind the success rate and median duration of the most recent
 * finished tasks.
 *
 * DESIGN: the daemon counts the states (GET /api/stats); the per-kind
 * figures are computed here from the finished tasks, read as one page per
 * final state (GET /api/tasks?state=S&limit=1000): three requests whatever
 * the size of the history, merged by finish time, and only the newest
 * SCAN_MAX kept, so the cost does not grow with the store. The success
 * rate is completed / (completed + failed): a cancel is nobody's failure.
 * The median duration is over completed tasks (elapsed_s).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "output.h"

static const char usage[] =
    "usage: tl stats [--json]\n"
    "\n"
    "Shows how many tasks are in each state, the groups, and per kind the\n"
    "success rate and median duration of the last 1000 finished tasks.\n"
    "\n"
    "options:\n"
    "  --json  print {\"counts\", \"total\", \"groups\", \"kinds\", "
    "\"scanned\"}\n";

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL };

#define SCAN_MAX 1000
#define KIND_COLS 16

static const char *const finals[] = {"completed", "failed", "cancelled"};
static const char *const states[] = {"queued",    "running", "paused",
                                     "completed", "failed",  "cancelled"};

/* ---- reading ---------------------------------------------------------- */

/* Appends the newest finished tasks of each final state to all. */
static int fetch_finished(cli_t *cli, json_t *all)
{
    json_t *page = NULL;
    char *path;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        path =
            cli_xasprintf("/api/tasks?state=%s&limit=%d", finals[i], SCAN_MAX);
        rc = cli_call(cli, "GET", path, NULL, &page);
        free(path);
        if (rc)
            return rc;
        json_array_extend(all, json_object_get(page, "tasks"));
        json_decref(page);
        page = NULL;
    }
    return CLI_OK;
}

static int newer_first(const void *a, const void *b)
{
    const char *fa = cli_json_str(*(json_t *const *)a, "finished_at");
    const char *fb = cli_json_str(*(json_t *const *)b, "finished_at");

    /* RFC 3339 UTC of one format sorts as text */
    return strcmp(fb ? fb : "", fa ? fa : "");
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* ---- per kind --------------------------------------------------------- */

typedef struct kind_acc {
    const char *kind; /* points into the tasks */
    int64_t completed, failed, cancelled;
    double *durations;
    size_t ndur;
} kind_acc_t;

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), by_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static json_t *kind_json(const char *kind, kind_acc_t *k)
{
    int64_t decided = k->completed + k->failed;
    json_t *o =
        json_pack("{sssIsIsIsI}", "kind", kind, "finished",
                  (json_int_t)(decided + k->cancelled), "completed",
                  (json_int_t)k->completed, "failed", (json_int_t)k->failed,
                  "cancelled", (json_int_t)k->cancelled);

    cli_xcheck(o);
    json_object_set_new(o, "success_rate",
                        decided
                            ? json_real((double)k->completed / (double)decided)
                            : json_null());
    json_object_set_new(o, "median_duration_s",
                        k->ndur ? json_real(median(k->durations, k->ndur))
                                : json_null());
    return o;
}

static void account(kind_acc_t *k, const json_t *t)
{
    const char *state = cli_json_str(t, "state");
    double d;

    if (!state)
        return;
    if (strcmp(state, "completed") == 0) {
        k->completed++;
        if (cli_json_num(t, "elapsed_s", &d) == 0 && isfinite(d) && d >= 0) {
            k->durations = cli_xcheck(
                realloc(k->durations, sizeof(double) * (k->ndur + 1)));
            k->durations[k->ndur++] = d;
        }
    } else if (strcmp(state, "failed") == 0) {
        k->failed++;
    } else {
        k->cancelled++;
    }
}

static int more_finished(const void *a, const void *b)
{
    const kind_acc_t *x = a, *y = b;
    int64_t fx = x->completed + x->failed + x->cancelled;
    int64_t fy = y->completed + y->failed + y->cancelled;

    if (fx != fy)
        return (fy > fx) - (fy < fx);
    return strcmp(x->kind, y->kind);
}

/* The accumulator of kind in accs[0..*n), added when new. */
static kind_acc_t *acc_of(kind_acc_t *accs, size_t *n, const char *kind)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (strcmp(accs[i].kind, kind) == 0)
            return &accs[i];
    accs[*n].kind = kind;
    return &accs[(*n)++];
}

/* Per-kind figures of tasks[0..n), most finished first. */
static json_t *kinds_of(json_t **tasks, size_t n)
{
    kind_acc_t *accs = cli_xcheck(calloc(n + 1, sizeof(*accs)));
    json_t *out = cli_xcheck(json_array());
    const char *kind;
    size_t i, nk = 0;

    for (i = 0; i < n; i++) {
        kind = cli_json_str(tasks[i], "kind");
        account(acc_of(accs, &nk, kind ? kind : "-"), tasks[i]);
    }
    qsort(accs, nk, sizeof(*accs), more_finished);
    for (i = 0; i < nk; i++) {
        json_array_append_new(out, kind_json(accs[i].kind, &accs[i]));
        free(accs[i].durations);
    }
    free(accs);
    return out;
}

/* {"counts", "total", "groups", "kinds", "scanned"} */
static int gather(cli_t *cli, json_t **out)
{
    json_t *stats = NULL, *all = cli_xcheck(json_array()), **tasks;
    size_t n, i;
    int64_t total = 0;
    int rc;

    rc = cli_call(cli, "GET", "/api/stats", NULL, &stats);
    if (!rc)
        rc = fetch_finished(cli, all);
    if (rc)
        goto out;
    n = json_array_size(all);
    tasks = cli_xmalloc(sizeof(*tasks) * (n + 1));
    for (i = 0; i < n; i++)
        tasks[i] = json_array_get(all, i);
    qsort(tasks, n, sizeof(*tasks), newer_first);
    if (n > SCAN_MAX)
        n = SCAN_MAX;
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        total += cli_json_int(json_object_get(stats, "counts"), states[i], 0);
    json_object_set_new(stats, "total", json_integer(total));
    json_object_set_new(stats, "kinds", kinds_of(tasks, n));
    json_object_set_new(stats, "scanned", json_integer((json_int_t)n));
    if (!json_object_get(stats, "groups"))
        json_object_set_new(stats, "groups", json_array());
    free(tasks);
    *out = stats;
    stats = NULL;
out:
    json_decref(stats);
    json_decref(all);
    return rc;
}

/* ---- printing --------------------------------------------------------- */

static void print_kinds(const json_t *kinds, int64_t scanned)
{
    char name[KIND_COLS * 4 + 8], rate[16], dur[32];
    json_t *k;
    size_t i;
    double d;

    if (!json_array_size(kinds))
        return;
    printf("%-*s  %8s  %9s  %6s  %9s  %7s  %8s\n", KIND_COLS, "KIND",
           "FINISHED", "COMPLETED", "FAILED", "CANCELLED", "SUCCESS", "MEDIAN");
    json_array_foreach(kinds, i, k)
    {
        args_fit_text(cli_json_str(k, "kind") ? cli_json_str(k, "kind") : "-",
                      KIND_COLS, name, sizeof(name));
        if (cli_json_num(k, "success_rate", &d) == 0)
            snprintf(rate, sizeof(rate), "%.0f%%", d * 100);
        else
            snprintf(rate, sizeof(rate), "-");
        if (cli_json_num(k, "median_duration_s", &d) == 0)
            args_format_elapsed(d, dur, sizeof(dur));
        else
            snprintf(dur, sizeof(dur), "-");
        printf("%s%*s  %8lld  %9lld  %6lld  %9lld  %7s  %8s\n", name,
               (int)(KIND_COLS - args_text_width(name)), "",
               (long long)cli_json_int(k, "finished", 0),
               (long long)cli_json_int(k, "completed", 0),
               (long long)cli_json_int(k, "failed", 0),
               (long long)cli_json_int(k, "cancelled", 0), rate, dur);
    }
    printf("(the last %lld finished tasks)\n\n", (long long)scanned);
}

static void print_stats(const cli_t *cli, const json_t *stats)
{
    json_t *counts = json_object_get(stats, "counts");
    const char *icon, *sgr;
    size_t i;

    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        cli_state_style(cli, states[i], &icon, &sgr);
        printf("%s%s%-10s%s %6lld\n", cli->tty ? icon : "", cli->tty ? " " : "",
               states[i], "", (long long)cli_json_int(counts, states[i], 0));
    }
    printf("%s%-10s %6lld\n\n", cli->tty ? "  " : "", "total",
           (long long)cli_json_int(stats, "total", 0));
    print_kinds(json_object_get(stats, "kinds"),
                cli_json_int(stats, "scanned", 0));
    cli_print_groups(json_object_get(stats, "groups"), NULL);
}

int cmd_stats(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    json_t *out = NULL;
    int c, json = 0, rc;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, usage)) != -1) {
        if (c != OPT_JSON)
            return cli->rc;
        json = 1;
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    rc = gather(cli, &out);
    if (rc == CLI_OK && json)
        cli_print_json(out);
    else if (rc == CLI_OK)
        print_stats(cli, out);
    json_decref(out);
    return rc;
}
