/*
 * eta_bench.c -- replays progress traces through the ETA estimator (eta.c)
 * and prints, per trace family, the median absolute percentage error
 * (MdAPE) of the estimated total running time against the true total.
 *
 *   eta_bench [TRACE_DIR]   synthetic families, then TRACE_DIR/ *.csv
 *   eta_bench --cost N      only N observe() calls, for callgrind
 *
 * At every sample of a run that is at least 10% (25%, 50%) done and not yet
 * finished, the sample is observed and the estimate taken at that sample's
 * time; APE = |estimated total - true total| / true total. Each run weighs
 * the same in the median whatever its sample count, so a run that reports
 * a thousand times a second does not drown one that reports every minute.
 *
 * Synthetic families, generated from a fixed seed: a rate curve (the
 * family's shape times a slowly wandering log-normal noise, sigma 0.15,
 * correlation time 1/20 of the run) is integrated and scaled to 100% at
 * the true total. Each run draws its own total (the family's typical one
 * times a log-normal factor, sigma 0.2), its reporting (regular every
 * 0.02..60 s with jitter, or clumps of 10..1000 samples at once, or only
 * on change), duplicates, and a quantisation (none, 0.1% or whole percent).
 *   steady        constant rate
 *   accelerating  the rate grows linearly to 3x over the run
 *   decelerating  the rate falls linearly to 1/3 over the run
 *   bursty        10..25 jumps of random size at random times, flat between
 *   stalling      steady, but no progress for 10..30% of the run, starting
 *                 at 30..50% done
 *   long tail     the last 10% take as long as the first 90%
 * The "prior" column passes the median total of the family's other runs
 * (what the manager would pass); the others pass none. "linear" is the
 * naive elapsed * 100 / progress, for comparison.
 *
 * Recorded traces are CSV files of "t_s,progress" lines (a header line is
 * skipped) whose last line is the end of the task.
 */
#include "eta.h"

#include "tasklight.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 24
#ifndef SEED
#define SEED UINT64_C(0x5eed2024e7a)
#endif
#define GRID 4000

/* ---- small helpers ---------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "eta_bench: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t rng_state = SEED;

static double urand(void) /* [0, 1) */
{
    /* splitmix64 */
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double uniform(double a, double b)
{
    return a + (b - a) * urand();
}

static double gauss(void)
{
    double u = urand(), v = urand();

    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* ---- traces ----------------------------------------------------------- */

typedef struct {
    double t, p;
} sample_t;

typedef struct {
    sample_t *s;
    size_t n, cap;
    double total;
} trace_t;

static void push(trace_t *tr, double t, double p)
{
    if (tr->n == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 256;
        tr->s = xrealloc(tr->s, tr->cap * sizeof(*tr->s));
    }
    tr->s[tr->n].t = t;
    tr->s[tr->n].p = p;
    tr->n++;
}

enum family { STEADY, ACCEL, DECEL, BURSTY, STALL, LONGTAIL, NFAMILY };

static const char *const family_name[NFAMILY] = {"steady",       "accelerating",
                                                 "decelerating", "bursty",
                                                 "stalling",     "long tail"};

/* Typical totals in seconds, so the bucket floor of 1 s and the sampling
 * intervals meet tasks of different lengths. */
static const double family_total[NFAMILY] = {600, 1800, 300, 900, 1200, 240};

/* The progress curve of one run: cumulative work on GRID steps. */
typedef struct {
    double w[GRID + 1];
    double total;
} curve_t;

static void make_curve(enum family f, double total, curve_t *c)
{
    double ou = 0, theta = 1.0 / 20, sigma = 0.15, dx = 1.0 / GRID;
    double decay = exp(-dx / theta), kick = sigma * sqrt(1 - decay * decay);
    double stall_len = uniform(0.1, 0.3);
    double stall_at = uniform(0.3, 0.5) * (1 - stall_len);
    int nstep = (int)uniform(10, 26);
    double step_x[26], step_w[26], sum = 0;

    for (int k = 0; k < nstep; k++) {
        step_x[k] = urand();
        step_w[k] = uniform(0.3, 1.7);
    }
    qsort(step_x, (size_t)nstep, sizeof(double), cmp_double);
    step_x[nstep - 1] = 1.0; /* the last jump ends the task */
    c->total = total;
    c->w[0] = 0;
    for (int i = 1; i <= GRID; i++) {
        double x = (i - 0.5) * dx, r = 1;

        switch (f) {
        case STEADY:
        case BURSTY:
            break;
        case ACCEL:
            r = 1 + 2 * x;
            break;
        case DECEL:
            r = 3 - 2 * x;
            break;
        case STALL:
            r = x >= stall_at && x < stall_at + stall_len ? 0 : 1;
            break;
        case LONGTAIL:
            r = x < 0.5 ? 1 : 1.0 / 9;
            break;
        case NFAMILY:
            break;
        }
        ou = ou * decay + kick * gauss();
        c->w[i] = c->w[i - 1] + r * exp(ou) * dx;
    }
    if (f == BURSTY) {
        /* Flat between jumps: the work done by a jump's time, rounded down
         * to the jumps, with random jump sizes. */
        for (int k = 0; k < nstep; k++)
            step_w[k] = (sum += step_w[k]);
        for (int i = 0; i <= GRID; i++) {
            double x = (double)i / GRID, w = 0;

            for (int k = 0; k < nstep && step_x[k] <= x; k++)
                w = step_w[k];
            c->w[i] = w;
        }
    }
    for (int i = 0; i <= GRID; i++)
        c->w[i] /= c->w[GRID];
}

static double curve_at(const curve_t *c, double t)
{
    double x = t / c->total * GRID;
    int i = (int)x;

    if (i >= GRID)
        return 100;
    if (i < 0)
        return 0;
    return 100 * (c->w[i] + (c->w[i + 1] - c->w[i]) * (x - i));
}

static void make_run(enum family f, trace_t *tr)
{
    static curve_t c;
    double total = family_total[f] * exp(0.2 * gauss());
    double quant[3] = {0, 0.1, 1}, q = quant[(int)uniform(0, 3)];
    double mode = urand(), dt, t = 0, last_p = -1;

    make_curve(f, total, &c);
    /* A reporting interval from 0.02 s to 60 s, at least 20 reports. */
    dt = exp(uniform(log(0.02), log(60)));
    if (dt > total / 20)
        dt = total / 20;
    memset(tr, 0, sizeof(*tr));
    tr->total = total;
    while (t < total) {
        double p = curve_at(&c, t);

        if (q > 0)
            p = floor(p / q) * q;
        if (mode < 0.5) { /* regular, with jitter and duplicates */
            push(tr, t, p);
            if (urand() < 0.05)
                push(tr, t, p);
            t += dt * uniform(0.5, 1.5);
        } else if (mode < 0.8) { /* clumps of samples at once */
            int m = (int)exp(uniform(log(10), log(1000)));

            for (int k = 0; k < m; k++)
                push(tr, t + k * 1e-6, p);
            t += (dt < 1 ? 1 : dt) * uniform(0.5, 1.5);
        } else { /* only on change, polled often */
            if (p != last_p)
                push(tr, t, p);
            last_p = p;
            t += 0.05;
        }
    }
    push(tr, total, 100);
}

static int load_csv(const char *path, trace_t *tr)
{
    FILE *fp = fopen(path, "r");
    char line[256];

    if (!fp)
        return -1;
    memset(tr, 0, sizeof(*tr));
    while (fgets(line, sizeof(line), fp)) {
        double t, p;

        if (sscanf(line, "%lf,%lf", &t, &p) == 2)
            push(tr, t, p);
    }
    fclose(fp);
    if (tr->n < 2) {
        free(tr->s);
        return -1;
    }
    tr->total = tr->s[tr->n - 1].t;
    return 0;
}

/* ---- scoring ---------------------------------------------------------- */

/* Absolute percentage errors with a weight each: 1 / (the run's count). */
typedef struct {
    double *v; /* pairs: ape, weight */
    size_t n, cap;
} errs_t;

static void err_push(errs_t *e, double ape, double w)
{
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 1024;
        e->v = xrealloc(e->v, e->cap * sizeof(double));
    }
    e->v[e->n++] = ape;
    e->v[e->n++] = w;
}

static int cmp_pair(const void *a, const void *b)
{
    return cmp_double(a, b);
}

static double weighted_median(errs_t *e)
{
    double sum = 0, acc = 0;
    size_t n = e->n / 2;

    if (n == 0)
        return NAN;
    qsort(e->v, n, 2 * sizeof(double), cmp_pair);
    for (size_t i = 0; i < n; i++)
        sum += e->v[2 * i + 1];
    for (size_t i = 0; i < n; i++) {
        acc += e->v[2 * i + 1];
        if (acc >= sum / 2)
            return e->v[2 * i];
    }
    return e->v[2 * (n - 1)];
}

enum { FROM10, FROM25, FROM50, PRIOR10, LINEAR10, NCOL };
static const double col_from[NCOL] = {10, 25, 50, 10, 10};

typedef struct {
    errs_t col[NCOL];
    size_t runs, samples;
} score_t;

static void score_run(score_t *sc, const trace_t *tr, double prior)
{
    size_t count[NCOL] = {0};
    tl__eta_t with, without;

    for (size_t i = 0; i < tr->n; i++)
        for (int c = 0; c < NCOL; c++)
            if (tr->s[i].p >= col_from[c] && tr->s[i].p < 100)
                count[c]++;
    tl__eta_init(&with);
    tl__eta_init(&without);
    for (size_t i = 0; i < tr->n; i++) {
        double t = tr->s[i].t, p = tr->s[i].p, eta, tot[NCOL];

        tl__eta_observe(&without, t, p);
        tl__eta_observe(&with, t, p);
        if (p < 10 || p >= 100)
            continue;
        if (tl__eta_estimate(&without, t, NAN, &eta, &tot[FROM10]) ||
            tl__eta_estimate(&with, t, prior, &eta, &tot[PRIOR10])) {
            fprintf(stderr, "eta_bench: no estimate at %.0f%%\n", p);
            exit(1);
        }
        tot[FROM25] = tot[FROM50] = tot[FROM10];
        tot[LINEAR10] = t * 100 / p;
        for (int c = 0; c < NCOL; c++)
            if (p >= col_from[c] && isfinite(tot[c]))
                err_push(&sc->col[c], fabs(tot[c] - tr->total) / tr->total,
                         1.0 / (double)count[c]);
    }
    sc->runs++;
    sc->samples += tr->n;
}

static void print_header(void)
{
    printf("%-22s %5s %8s %8s %8s %8s %8s %8s\n", "family", "runs", "samples",
           "from10%", "from25%", "from50%", "prior10", "linear10");
}

static void print_row(const char *name, score_t *sc, int has_prior)
{
    double m[NCOL];

    for (int c = 0; c < NCOL; c++) {
        m[c] = weighted_median(&sc->col[c]) * 100;
        free(sc->col[c].v);
    }
    printf("%-22s %5zu %8zu %7.1f%% %7.1f%% %7.1f%% ", name, sc->runs,
           sc->samples, m[FROM10], m[FROM25], m[FROM50]);
    if (has_prior)
        printf("%7.1f%% ", m[PRIOR10]);
    else
        printf("%8s ", "-");
    printf("%7.1f%%\n", m[LINEAR10]);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_recorded(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;

    if (!d) {
        printf("(no recorded traces: cannot open %s)\n", dir);
        return;
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);

        if (len > 4 && strcmp(de->d_name + len - 4, ".csv") == 0) {
            names = xrealloc(names, (n + 1) * sizeof(*names));
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096], label[64];
        score_t sc;
        trace_t tr;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        snprintf(label, sizeof(label), "real: %.*s",
                 (int)(strlen(names[i]) - 4), names[i]);
        if (load_csv(path, &tr) == 0) {
            memset(&sc, 0, sizeof(sc));
            score_run(&sc, &tr, NAN);
            print_row(label, &sc, 0);
            free(tr.s);
        }
        free(names[i]);
    }
    free(names);
}

static void run_synthetic(void)
{
    for (int f = 0; f < NFAMILY; f++) {
        trace_t runs[RUNS];
        double totals[RUNS - 1];
        score_t sc;

        memset(&sc, 0, sizeof(sc));
        for (int r = 0; r < RUNS; r++)
            make_run((enum family)f, &runs[r]);
        for (int r = 0; r < RUNS; r++) {
            int k = 0;

            for (int o = 0; o < RUNS; o++)
                if (o != r)
                    totals[k++] = runs[o].total;
            qsort(totals, RUNS - 1, sizeof(double), cmp_double);
            score_run(&sc, &runs[r], totals[(RUNS - 1) / 2]);
        }
        for (int r = 0; r < RUNS; r++)
            free(runs[r].s);
        print_row(family_name[f], &sc, 1);
    }
}

/* N observe() calls on a steady task sampled 100 times a second. */
static void run_cost(long n)
{
    tl__eta_t e;
    double eta, total;

    tl__eta_init(&e);
    for (long i = 0; i < n; i++)
        tl__eta_observe(&e, i * 0.01, 100.0 * i / n);
    if (tl__eta_estimate(&e, n * 0.01, NAN, &eta, &total) == 0)
        printf("observed %ld samples, total %.1f s\n", n, total);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--cost") == 0) {
        run_cost(atol(argv[2]));
        return 0;
    }
    printf("MdAPE of the estimated total time vs the true total, per "
           "family\n(measured at every sample once 10/25/50%% done; "
           "prior10: with the median\ntotal of the other runs as prior; "
           "linear10: elapsed*100/progress)\n\n");
    print_header();
    run_synthetic();
    run_recorded(argc > 1 ? argv[1] : "bench/eta/traces");
    return 0;
}
