/*
 * eta.c -- the remaining-time estimator of one task. The DESIGN paragraph
 * is in eta.h, next to the struct it explains.
 *
 * Invariants: len <= TL__ETA_BUCKETS; the buckets, the open bucket and the
 * last sample all lie at or after the origin (t0, p0) in time and progress;
 * open_n == 0 only before the first sample since init or restart.
 */
#include "eta.h"

#include "tasklight.h"

#include <math.h>
#include <string.h>

#ifndef ETA_MIN_BUCKET_S
#define ETA_MIN_BUCKET_S 1.0 /* the shortest bucket */
#endif
#ifndef ETA_BUCKET_FRAC
#define ETA_BUCKET_FRAC (1.0 / 32) /* bucket length / running time */
#endif
#ifndef ETA_TAU_FRAC
#define ETA_TAU_FRAC 0.25 /* weight time constant / running time */
#endif
#ifndef ETA_RECENT_W
#define ETA_RECENT_W 0.6 /* share of the recent rate in the blend */
#endif
#ifndef ETA_PRIOR_F
#define ETA_PRIOR_F 0.1 /* the prior's weight is exp(-done / this) */
#endif
#define ETA_RESTART_DROP 1.0 /* a drop in percent that restarts */
#define ETA_OVERDUE 1.1     /* a task past its prior is 1/1.1 done */
#define ETA_MAX_S 1e9       /* caps a remaining time (~32 years) */

void tl__eta_init(tl__eta_t *e)
{
    memset(e, 0, sizeof(*e));
}

static void restart(tl__eta_t *e, double t, double p)
{
    tl__eta_init(e);
    e->t0 = t;
    e->p0 = p;
}

static void close_bucket(tl__eta_t *e)
{
    e->bt[e->head] = (float)(e->open_st / e->open_n);
    e->bp[e->head] = (float)(e->open_sp / e->open_n);
    e->head = (uint16_t)((e->head + 1) % TL__ETA_BUCKETS);
    if (e->len < TL__ETA_BUCKETS)
        e->len++;
}

void tl__eta_observe(tl__eta_t *e, double t, double p)
{
    double width;

    if (!isfinite(t) || !isfinite(p))
        return;
    p = p < 0 ? 0 : p > 100 ? 100 : p;
    if (e->open_n && p < e->p_last - ETA_RESTART_DROP) {
        restart(e, t > e->t_last ? t : e->t_last, p);
    } else if (e->open_n) {
        if (t < e->t_last)
            t = e->t_last;
        if (p < e->p_last)
            p = e->p_last;
    } else if (t < e->t0) {
        t = e->t0;
    }
    width = (t - e->t0) * ETA_BUCKET_FRAC;
    if (width < ETA_MIN_BUCKET_S)
        width = ETA_MIN_BUCKET_S;
    if (e->open_n && t - e->open_start >= width) {
        close_bucket(e);
        e->open_n = 0;
    }
    if (e->open_n == 0) {
        e->open_start = t;
        e->open_st = e->open_sp = 0;
    }
    e->open_st += t;
    e->open_sp += p;
    e->open_n++;
    e->t_last = t;
    e->p_last = p;
}

/* The recent rate in percent per second: a weighted least-squares slope
 * over the buckets, capped by the chord from their weighted centre to
 * (now, p_last). Returns -1 when the buckets do not span enough time. */
static double recent_rate(const tl__eta_t *e, double now)
{
    double ts[TL__ETA_BUCKETS + 1], ps[TL__ETA_BUCKETS + 1],
        ws[TL__ETA_BUCKETS + 1];
    double tau, sw = 0, st = 0, sp = 0, stt = 0, stp = 0, tm, pm, slope,
                chord;
    int n = 0;

    tau = (e->t_last - e->t0) * ETA_TAU_FRAC;
    if (tau < ETA_MIN_BUCKET_S)
        tau = ETA_MIN_BUCKET_S;
    for (int i = 0; i < e->len; i++) {
        int k = (e->head + TL__ETA_BUCKETS - 1 - i) % TL__ETA_BUCKETS;
        ts[n] = e->bt[k];
        ps[n] = e->bp[k];
        n++;
    }
    ts[n] = e->open_st / e->open_n;
    ps[n] = e->open_sp / e->open_n;
    n++;
    for (int i = 0; i < n; i++) {
        ws[i] = exp((ts[i] - e->t_last) / tau);
        sw += ws[i];
        st += ws[i] * ts[i];
        sp += ws[i] * ps[i];
    }
    tm = st / sw;
    pm = sp / sw;
    for (int i = 0; i < n; i++) {
        double dt = ts[i] - tm;
        stt += ws[i] * dt * dt;
        stp += ws[i] * dt * (ps[i] - pm);
    }
    /* Under two buckets' worth of spread the slope is mostly noise. */
    if (n < 3 || stt < sw * ETA_MIN_BUCKET_S * ETA_MIN_BUCKET_S)
        return -1;
    slope = stp / stt;
    if (slope < 0)
        slope = 0;
    chord = (e->p_last - pm) / (now - tm);
    return slope < chord ? slope : chord;
}

/* The total running time from progress alone; -1 when there is none. */
static double data_total(const tl__eta_t *e, double now)
{
    double overall, recent, rate, left;

    if (e->open_n == 0 || e->p_last <= e->p0 || now <= e->t0)
        return -1;
    if (e->p_last >= 100)
        return now;
    overall = (e->p_last - e->p0) / (now - e->t0);
    recent = recent_rate(e, now);
    rate = recent < 0 ? overall
                      : ETA_RECENT_W * recent + (1 - ETA_RECENT_W) * overall;
    left = (100 - e->p_last) / rate;
    if (!(left < ETA_MAX_S))
        left = ETA_MAX_S;
    return now + left;
}

int tl__eta_estimate(const tl__eta_t *e, double now, double prior,
                     double *eta_s, double *total_s)
{
    double total, from_prior = -1;

    if (!isfinite(now) || now < e->t_last)
        now = e->t_last;
    if (isfinite(prior) && prior > 0) {
        from_prior = prior > now * ETA_OVERDUE ? prior : now * ETA_OVERDUE;
        if (from_prior > ETA_MAX_S)
            from_prior = ETA_MAX_S;
    }
    total = data_total(e, now);
    if (total < 0 && from_prior < 0)
        return TL_ENOTFOUND;
    if (total < 0) {
        total = from_prior;
    } else if (from_prior >= 0 && e->p_last < 100) {
        double w = exp(-(e->p_last - e->p0) / (100 * ETA_PRIOR_F));
        total = w * from_prior + (1 - w) * total;
    }
    *total_s = total;
    *eta_s = total - now;
    return 0;
}
