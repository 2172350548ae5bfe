/*
 * test_eta.c -- the ETA estimator: convergence on a steady task, no
 * estimate from nothing, the prior alone, stalls, repeats, bursts, time and
 * progress going backwards, and garbage input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "eta.h"
#include "tasklight.h"

/* Fails unless |got - want| <= rel * |want|, printing both. */
#define assert_near(got, want, rel)                                            \
    do {                                                                       \
        double got_ = (got), want_ = (want);                                   \
        if (!(fabs(got_ - want_) <= (rel)*fabs(want_))) {                      \
            print_error("%s = %.6g, want %.6g within %.0f%%\n", #got, got_,    \
                        want_, (rel)*100);                                     \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* Fails unless a > b, printing both. */
#define assert_gt(a, b)                                                        \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(a_ > b_)) {                                                      \
            print_error("%s = %.6g, want > %s = %.6g\n", #a, a_, #b, b_);      \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* An estimate that must exist and be finite and non-negative. */
static void estimate_sane(const tl__eta_t *e, double now, double prior,
                          double *eta, double *total)
{
    int rc = tl__eta_estimate(e, now, prior, eta, total);

    assert_int_equal(rc, 0);
    if (!isfinite(*eta) || !isfinite(*total) || *eta < 0 || *total < *eta) {
        print_error("at %g: eta %g, total %g\n", now, *eta, *total);
        fail();
    }
}

/* The same, at a now not before the last sample: total = now + eta. */
static void estimate_ok(const tl__eta_t *e, double now, double prior,
                        double *eta, double *total)
{
    estimate_sane(e, now, prior, eta, total);
    if (*total < now || fabs(*total - now - *eta) > 1e-9 * *total) {
        print_error("at %g: eta %g, total %g\n", now, *eta, *total);
        fail();
    }
}

/* Deterministic noise in [-1, 1). */
static double noise(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / (1u << 23) - 1;
}

static void test_size(void **state)
{
    (void)state;
    assert_true(sizeof(tl__eta_t) <= 256);
}

static void test_steady_converges(void **state)
{
    tl__eta_t e;
    uint32_t seed = 7;
    double p = 0, eta, total;

    (void)state;
    tl__eta_init(&e);
    /* 200 s at 0.5 %/s with +-30% jitter in each step, sampled at 10 Hz. */
    for (int i = 1; i <= 2000; i++) {
        double t = i * 0.1;

        p += 0.05 * (1 + 0.3 * noise(&seed));
        tl__eta_observe(&e, t, p);
        if (p >= 20 && p < 100) {
            estimate_ok(&e, t, NAN, &eta, &total);
            assert_near(total, 100 / 0.5, 0.05);
        }
    }
}

static void test_nothing_to_go_on(void **state)
{
    tl__eta_t e;
    double eta = -7, total = -7;

    (void)state;
    tl__eta_init(&e);
    assert_int_equal(tl__eta_estimate(&e, 0, NAN, &eta, &total), TL_ENOTFOUND);
    assert_int_equal(tl__eta_estimate(&e, 30, NAN, &eta, &total), TL_ENOTFOUND);
    /* Samples without progress are not progress. */
    for (int i = 0; i < 100; i++)
        tl__eta_observe(&e, i, 0);
    assert_int_equal(tl__eta_estimate(&e, 100, NAN, &eta, &total),
                     TL_ENOTFOUND);
    /* Nor is a useless prior. */
    assert_int_equal(tl__eta_estimate(&e, 100, 0, &eta, &total), TL_ENOTFOUND);
    assert_int_equal(tl__eta_estimate(&e, 100, -5, &eta, &total), TL_ENOTFOUND);
    assert_int_equal(tl__eta_estimate(&e, 100, INFINITY, &eta, &total),
                     TL_ENOTFOUND);
    /* Outputs are left alone. */
    assert_true(eta == -7 && total == -7);
}

static void test_prior_alone(void **state)
{
    tl__eta_t e;
    double eta, total;

    (void)state;
    tl__eta_init(&e);
    estimate_ok(&e, 0, 120, &eta, &total);
    assert_near(total, 120, 1e-9);
    assert_near(eta, 120, 1e-9);
    estimate_ok(&e, 50, 120, &eta, &total);
    assert_near(eta, 70, 1e-9);
    /* A task without progress reports. */
    for (int i = 0; i <= 100; i++)
        tl__eta_observe(&e, i, 0);
    estimate_ok(&e, 100, 120, &eta, &total);
    assert_near(total, 120, 1e-9);
    /* Past the prior: still some time left, growing with the overrun. */
    estimate_ok(&e, 200, 120, &eta, &total);
    double late = eta;
    assert_gt(late, 0);
    estimate_ok(&e, 400, 120, &eta, &total);
    assert_gt(eta, late);
}

static void test_prior_fades(void **state)
{
    tl__eta_t e;
    double eta, total, early, late;

    (void)state;
    /* The task runs at 1 %/s (total 100 s), the prior says 300 s. */
    tl__eta_init(&e);
    for (int i = 1; i <= 2; i++)
        tl__eta_observe(&e, i, i);
    estimate_ok(&e, 2, 300, &eta, &early);
    for (int i = 3; i <= 60; i++)
        tl__eta_observe(&e, i, i);
    estimate_ok(&e, 60, 300, &eta, &late);
    estimate_ok(&e, 60, NAN, &eta, &total);
    assert_gt(early, 200);        /* the prior dominates at 2% */
    assert_near(late, 100, 0.02); /* and is gone at 60% */
    assert_near(total, 100, 0.01);
}

static void test_stall_grows(void **state)
{
    tl__eta_t e, quiet, stalled;
    double eta, total, prev;

    (void)state;
    tl__eta_init(&e);
    for (int i = 1; i <= 500; i++)
        tl__eta_observe(&e, i * 0.1, i * 0.1); /* 1 %/s up to 50% */
    estimate_ok(&e, 50, NAN, &prev, &total);
    assert_near(total, 100, 0.02);
    quiet = e;
    /* Samples keep coming, progress does not move. */
    for (int s = 1; s <= 12; s++) {
        for (int k = 1; k <= 100; k++)
            tl__eta_observe(&e, 50 + (s - 1) * 10 + k * 0.1, 50);
        estimate_ok(&e, 50 + s * 10, NAN, &eta, &total);
        assert_gt(eta, prev);
        prev = eta;
    }
    /* 120 s of stall after 50 s of work: at least the stall again. */
    assert_gt(eta, 50 + 120);
    /* A very long stall keeps growing, without rounding hiccups. */
    stalled = e;
    for (int s = 171; s <= 20000; s++) {
        tl__eta_observe(&stalled, s, 50);
        if (s % 100 == 0) {
            estimate_ok(&stalled, s, NAN, &eta, &total);
            assert_gt(eta, prev);
            prev = eta;
        }
    }
    /* Nothing comes at all: the same, from now alone. */
    estimate_ok(&quiet, 50, NAN, &prev, &total);
    for (int s = 1; s <= 12; s++) {
        estimate_ok(&quiet, 50 + s * 10, NAN, &eta, &total);
        assert_gt(eta, prev);
        prev = eta;
    }
    /* Progress resumes at 0.5 %/s: the estimate comes back down towards
     * the 50 s left at 75%. */
    for (int i = 1; i <= 500; i++)
        tl__eta_observe(&e, 170 + i * 0.1, 50 + i * 0.05);
    estimate_ok(&e, 220, NAN, &eta, &total);
    assert_gt(100, eta);
}

static void test_repeats(void **state)
{
    tl__eta_t e;
    double eta, total;

    (void)state;
    tl__eta_init(&e);
    for (int i = 0; i < 10000; i++)
        tl__eta_observe(&e, 10, 5);
    estimate_ok(&e, 10, NAN, &eta, &total);
    assert_near(total, 200, 1e-9); /* only the overall rate: 5% in 10 s */
    /* The same time with growing progress, and the same progress again. */
    for (int i = 0; i < 1000; i++)
        tl__eta_observe(&e, 20, 10 + i * 0.001);
    for (int i = 0; i < 1000; i++)
        tl__eta_observe(&e, 20 + i * 0.01, 11);
    estimate_ok(&e, 30, NAN, &eta, &total);
    estimate_ok(&e, 30, 100, &eta, &total);
}

static void test_burst(void **state)
{
    tl__eta_t e;
    double eta, total;

    (void)state;
    tl__eta_init(&e);
    for (int i = 1; i <= 30; i++)
        tl__eta_observe(&e, i, i * 0.5); /* 0.5 %/s: 200 s in all */
    /* 10,000 samples within one second, on the same line. */
    for (int i = 1; i <= 10000; i++)
        tl__eta_observe(&e, 30 + i * 1e-4, 15 + i * 0.5e-4);
    estimate_ok(&e, 31, NAN, &eta, &total);
    assert_near(total, 200, 0.05);
    /* 10,000 late samples with one timestamp: jittery, bunched progress. */
    for (int i = 1; i <= 10000; i++)
        tl__eta_observe(&e, 32, 15.5 + (i % 7) * 0.1);
    for (int i = 33; i <= 60; i++)
        tl__eta_observe(&e, i, i * 0.5);
    estimate_ok(&e, 60, NAN, &eta, &total);
    assert_near(total, 200, 0.10);
}

static void test_progress_backwards(void **state)
{
    tl__eta_t e;
    double eta, total, before;

    (void)state;
    tl__eta_init(&e);
    for (int i = 1; i <= 60; i++)
        tl__eta_observe(&e, i, i); /* 1 %/s */
    estimate_ok(&e, 60, NAN, &eta, &before);
    assert_near(before, 100, 0.01);
    /* Noise: a small dip is not a restart. */
    tl__eta_observe(&e, 61, 60.5);
    tl__eta_observe(&e, 62, 62);
    estimate_ok(&e, 62, NAN, &eta, &total);
    assert_near(total, 100, 0.03);
    /* A new phase from 0 at 2 %/s: 50 s from the restart at 62 s. */
    tl__eta_observe(&e, 63, 0);
    estimate_ok(&e, 63, 300, &eta, &total);
    for (int i = 1; i <= 20; i++)
        tl__eta_observe(&e, 63 + i, 2 * i);
    estimate_ok(&e, 83, NAN, &eta, &total);
    assert_near(total, 113, 0.05);
    assert_near(eta, 30, 0.15);
}

static void test_time_jumps(void **state)
{
    tl__eta_t e;
    double eta, total, before;

    (void)state;
    tl__eta_init(&e);
    for (int i = 1; i <= 40; i++)
        tl__eta_observe(&e, i, i);
    estimate_ok(&e, 40, NAN, &eta, &before);
    /* Time going backwards is a repeat of the last time. */
    tl__eta_observe(&e, 5, 41);
    tl__eta_observe(&e, -100, 42);
    estimate_ok(&e, 40, NAN, &eta, &total);
    /* A now before the last sample is the last sample's time. */
    estimate_sane(&e, 0, NAN, &eta, &total);
    assert_near(total - eta, 40, 1e-12);
    /* A jump forward (paused time counted by mistake) looks like a stall. */
    tl__eta_observe(&e, 1040, 43);
    estimate_ok(&e, 1040, NAN, &eta, &total);
    assert_gt(eta, 1000);
    for (int i = 1; i <= 100; i++)
        tl__eta_observe(&e, 1040 + i, 43 + i * 0.5);
    estimate_ok(&e, 1140, NAN, &eta, &total);
}

static void test_garbage_and_done(void **state)
{
    tl__eta_t e;
    double eta, total;

    (void)state;
    tl__eta_init(&e);
    tl__eta_observe(&e, NAN, 10);
    tl__eta_observe(&e, 1, NAN);
    tl__eta_observe(&e, INFINITY, 10);
    tl__eta_observe(&e, 1, -INFINITY);
    assert_int_equal(tl__eta_estimate(&e, 1, NAN, &eta, &total), TL_ENOTFOUND);
    tl__eta_observe(&e, -5, -3); /* clamped to (0, 0) */
    tl__eta_observe(&e, 1e-300, 1e-300);
    estimate_ok(&e, 1e-300, NAN, &eta, &total);
    tl__eta_observe(&e, 10, 50);
    estimate_sane(&e, NAN, NAN, &eta, &total);
    assert_near(total - eta, 10, 1e-12);
    estimate_sane(&e, INFINITY, NAN, &eta, &total);
    assert_near(total - eta, 10, 1e-12);
    /* A very slow start: capped, not infinite. */
    tl__eta_init(&e);
    tl__eta_observe(&e, 1e8, 1e-9);
    estimate_ok(&e, 1e8, NAN, &eta, &total);
    estimate_ok(&e, 1e8, 1e12, &eta, &total);
    /* Done: nothing left, whatever the prior. */
    tl__eta_init(&e);
    tl__eta_observe(&e, 10, 50);
    tl__eta_observe(&e, 20, 150);
    estimate_ok(&e, 20, 1000, &eta, &total);
    assert_true(eta == 0);
    assert_near(total, 20, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_steady_converges),
        cmocka_unit_test(test_nothing_to_go_on),
        cmocka_unit_test(test_prior_alone),
        cmocka_unit_test(test_prior_fades),
        cmocka_unit_test(test_stall_grows),
        cmocka_unit_test(test_repeats),
        cmocka_unit_test(test_burst),
        cmocka_unit_test(test_progress_backwards),
        cmocka_unit_test(test_time_jumps),
        cmocka_unit_test(test_garbage_and_done),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
