/*
 * eta.c -- the remaining-time estimator of one task. The DESIGN paragraph
 * is in eta.h, next to the struct it explains.
 *
 * Invariants: t0 <= t_fold <= t_last and p0 <= p_last; the integrals are
 * over [t0, t_last] only; seen == 0 implies all of them are zero.
 */
#include "eta.h"

#include "tasklight.h"

#include <math.h>
#include <string.h>

/* Tuned on bench/eta (make bench-eta); see the DESIGN paragraph. */
#define ETA_MIN_BUCKET_S 1.0   /* the open bucket spans at least this */
#define ETA_BUCKET_FRAC 0.0625 /* and at least this share of running time */
#define ETA_POWER 3.0          /* the weight of running time s at t: (s/t)^3 */
#define ETA_RECENT_W 0.8       /* the recent rate's share of the rate */
#define ETA_PRIOR_F 0.1        /* the prior's weight is exp(-done / 10%) */
#define ETA_RESTART_DROP 1.0   /* a drop in percent that restarts */
#define ETA_OVERDUE 1.1        /* a task past its prior is 1/1.1 done */
#define ETA_MAX_S 1e9          /* caps a remaining time (~32 years) */

void tl__eta_init(tl__eta_t *e)
{
    memset(e, 0, sizeof(*e));
}

/* Moves the open bucket into the decayed integrals. */
static void fold(tl__eta_t *e)
{
    double d = pow((e->t_fold - e->t0) / (e->t_last - e->t0), ETA_POWER);

    e->acc_w = e->acc_w * d + e->open_w;
    e->acc_t = e->acc_t * d + e->open_t;
    e->acc_p = e->acc_p * d + e->open_p;
    e->open_w = e->open_t = e->open_p = 0;
    e->t_fold = e->t_last;
}

void tl__eta_observe(tl__eta_t *e, double t, double p)
{
    double len, width;

    if (!isfinite(t) || !isfinite(p))
        return;
    p = p < 0 ? 0 : p > 100 ? 100 : p;
    if (t < e->t_last)
        t = e->t_last;
    if (e->seen && p < e->p_last - ETA_RESTART_DROP) {
        tl__eta_init(e);
        e->t0 = e->t_last = e->t_fold = t;
        e->p0 = e->p_last = p;
        e->seen = 1;
        return;
    }
    if (p < e->p_last)
        p = e->p_last;
    /* The curve is taken as straight between samples (from the origin
     * before the first), so each piece weighs its duration. */
    len = t - e->t_last;
    e->open_w += len;
    e->open_t += len * (e->t_last + t) / 2;
    e->open_p += len * (e->p_last + p) / 2;
    e->t_last = t;
    e->p_last = p;
    e->seen = 1;
    width = (t - e->t0) * ETA_BUCKET_FRAC;
    if (t - e->t_fold >= (width > ETA_MIN_BUCKET_S ? width : ETA_MIN_BUCKET_S))
        fold(e);
}

/* The recent rate in percent per second: progress from the weighted centre
 * of the curve to (now, p_last), over the time between them; >= 0.
 * Returns -1 when no time has passed yet. */
static double recent_rate(const tl__eta_t *e, double now)
{
    double d = 1, w, tm, pm;

    if (e->t_last > e->t0)
        d = pow((e->t_fold - e->t0) / (e->t_last - e->t0), ETA_POWER);
    w = e->acc_w * d + e->open_w;
    if (!(w > 0))
        return -1;
    tm = (e->acc_t * d + e->open_t) / w;
    pm = (e->acc_p * d + e->open_p) / w;
    if (!(now > tm))
        return -1;
    /* pm <= p_last but for rounding: a flat curve is a rate of 0. */
    return pm < e->p_last ? (e->p_last - pm) / (now - tm) : 0;
}

/* The total running time from progress alone; -1 when there is none. */
static double data_total(const tl__eta_t *e, double now)
{
    double overall, recent, rate, left;

    if (!e->seen || e->p_last <= e->p0 || now <= e->t0)
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
