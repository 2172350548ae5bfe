/*
 * eta.h -- the remaining-time estimator of one task: fed with progress
 * samples (running time, percent done), it answers "how long until done"
 * and "how long in all". A fixed-size value embedded in the task: no
 * allocation, no destroy. Not thread-safe: the manager's loop thread owns it.
 *
 * DESIGN: the estimate divides the progress still to do by a rate that
 * blends two slopes:
 *   - the recent rate: a weighted least-squares slope over a small ring of
 *     time buckets. Samples are folded into the open bucket (mean time and
 *     mean progress), so a burst of thousands of samples weighs as much as
 *     one quiet second and observe() is O(1). A bucket spans at least 1 s
 *     and at least 1/32 of the running time, so 32 buckets always reach back
 *     over the last ~60% of the task, whatever its length. Weights decay
 *     exponentially with age (time constant 1/4 of the running time), so
 *     the rate follows an accelerating or slowing task.
 *   - the overall rate: progress since the origin over running time, which
 *     is the steadiest estimate when the rate does not change.
 * Stalls: both slopes are measured up to now, not up to the last sample.
 * The overall rate divides by now; the recent rate is capped by the chord
 * from the weighted centre of the buckets to (now, last progress), which is
 * close to the regression slope while progress moves and falls as 1/stall
 * once it stops, so the ETA grows with a stall instead of freezing.
 * The prior (typical total of the kind) is blended into the total with a
 * weight that fades as progress accumulates; alone it answers for tasks
 * that report no progress. Progress that drops by more than a point
 * restarts the estimate from that sample (a task restarting a phase);
 * smaller drops are noise and are ignored. Time that goes backwards is
 * taken as a repeat of the last time. Non-finite samples are ignored.
 */
#ifndef TL_ETA_H
#define TL_ETA_H

#include <stdint.h>

#define TL__ETA_BUCKETS 32

typedef struct tl__eta {
    /* Closed buckets, a ring: mean running time and mean progress. */
    float bt[TL__ETA_BUCKETS], bp[TL__ETA_BUCKETS];
    double t0, p0;         /* origin: (0, 0), or where progress restarted */
    double t_last, p_last; /* the newest sample (p_last never decreases) */
    double open_start;     /* running time at which the open bucket began */
    double open_st, open_sp; /* sums of t and p in the open bucket */
    uint32_t open_n;         /* samples in the open bucket; 0: none yet */
    uint16_t head, len;      /* ring: next slot to write, buckets held */
} tl__eta_t;

void tl__eta_init(tl__eta_t *e);
/* A progress sample: t_s is the task's running time in seconds (time spent
 * paused already excluded by the caller), progress is percent, 0..100
 * (clamped). Any rate of samples is fine, repeats included. */
void tl__eta_observe(tl__eta_t *e, double t_s, double progress);
/* The remaining seconds (*eta_s) and the estimated total running time
 * (*total_s) at running time now_s. prior_total_s is the typical total of
 * recent completed tasks of the same kind, NAN when unknown. Returns 0 and
 * sets both (finite, >= 0, *total_s >= now_s), or TL_ENOTFOUND and leaves
 * them untouched when there is neither progress nor a prior. */
int tl__eta_estimate(const tl__eta_t *e, double now_s, double prior_total_s,
                     double *eta_s, double *total_s);

#endif
