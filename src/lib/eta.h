/*
 * eta.h -- the remaining-time estimator of one task: fed with progress
 * samples (running time, percent done), it answers "how long until done"
 * and "how long in all". A fixed-size value (96 bytes) embedded in the
 * task: no allocation, nothing to free. Not thread-safe: the manager's loop
 * thread owns it.
 *
 * DESIGN: remaining = (100 - progress) / rate, and the rate is 0.8 of the
 * recent rate plus 0.2 of the overall rate, both measured up to now, not
 * up to the last sample:
 *   - overall: progress since the origin over the time since it; the
 *     steadiest estimate while the rate does not change.
 *   - recent: progress from the weighted centre of the progress curve to
 *     (now, last progress), over the time between them. The centre is the
 *     mean of (t, p) along the curve, running time s weighing (s/t)^3 at
 *     running time t, so it sits about a fifth of the running time back
 *     whatever the task's length, and the rate follows a task that speeds
 *     up or slows down.
 * The curve is taken as straight between samples and each piece weighs its
 * duration, so a burst of 10,000 samples within a second counts as that
 * second and repeats count for nothing. observe() is O(1): pieces are
 * summed into an open bucket, folded into the decayed sums (one pow()) once
 * it spans 1 s and 1/16 of the running time.
 * Stalls: when progress stops, now moves away from the origin and from the
 * centre, so both rates fall as 1/stall and the ETA grows with the stall
 * instead of freezing; samples that keep coming at the same progress also
 * pull the centre onto the flat part. Once progress resumes, the stall
 * fades from the centre as it ages.
 * Why no regression: a least-squares slope over a recent window measures
 * the rate at the window's centre; in bench/eta that lag cost 4 points of
 * MdAPE on accelerating and on stalling tasks (19% and 16%, against 15%
 * and 12%). The chord to now lags half as much and bounds the rate in a
 * stall by itself.
 * The prior (typical total of the kind) is blended into the total with a
 * weight of exp(-done / 10%), so it counts early only; alone it answers for
 * tasks without progress, and a task past it is taken as 1/1.1 done.
 * Progress that drops by more than a point restarts the estimate from that
 * sample (a task restarting a phase); smaller drops are noise and ignored.
 * Time that goes backwards is a repeat of the last time; non-finite
 * samples are ignored.
 */
#ifndef TL_ETA_H
#define TL_ETA_H

#include <stdint.h>

typedef struct tl__eta {
    double t0, p0;         /* origin: (0, 0), or where progress restarted */
    double t_last, p_last; /* the newest sample (p_last never decreases) */
    double t_fold;         /* when the open bucket began */
    /* Time-weighted integrals of 1, t and p over the progress curve: acc_*
     * up to t_fold, decayed; open_* since then, not decayed yet. */
    double acc_w, acc_t, acc_p;
    double open_w, open_t, open_p;
    int seen; /* a sample arrived since init or the last restart */
} tl__eta_t;

void tl__eta_init(tl__eta_t *e);
/* A progress sample: t_s is the task's running time in seconds (time spent
 * paused already excluded by the caller), progress is percent, 0..100
 * (clamped). Any rate of samples is fine, repeats included. */
void tl__eta_observe(tl__eta_t *e, double t_s, double progress);
/* The remaining seconds (*eta_s) and the estimated total running time
 * (*total_s) at running time now_s (a now_s before the last sample, or not
 * finite, is the last sample's time). prior_total_s is the typical total of
 * recent completed tasks of the same kind, NAN when unknown. Returns 0 and
 * sets both (finite, >= 0, total = now + eta), or TL_ENOTFOUND and leaves
 * them untouched when there is neither progress nor a prior. */
int tl__eta_estimate(const tl__eta_t *e, double now_s, double prior_total_s,
                     double *eta_s, double *total_s);

#endif
