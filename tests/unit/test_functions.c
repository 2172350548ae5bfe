/*
 * test_functions.c -- function tasks on the worker pool: progress, result,
 * failure, cancel, pause, timeout, wait-all, priority among queued ones.
 * Run under TSan too (make SANITIZE=thread).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "task.h"
#include "tasklight.h"

static char dir[64];
static tl_manager_t *m;

static int setup(void **state)
{
    strcpy(dir, "/tmp/tl-fn-XXXXXX");
    assert_non_null(mkdtemp(dir));
    tl_manager_options_t o = {.data_dir = dir};
    assert_int_equal(tl_manager_open(&o, &m), 0);
    return 0;
}

static int teardown(void **state)
{
    tl_manager_close(m);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_to_100(tl_ctx_t *c, void *arg)
{
    for (int i = 1; i <= 1000000; i++)
        tl_ctx_progress(c, i / 10000.0); /* a tight loop */
    tl_ctx_count(c, 24, 24);
    tl_ctx_message(c, "done %d", 24);
    tl_ctx_log(c, "line from the function");
    tl_ctx_step(c, "s1", "first step", "completed", NAN);
    tl_ctx_result(c, "{\"answer\": 42}");
    return 0;
}

static int failing(tl_ctx_t *c, void *arg)
{
    tl_ctx_fail(c, "disk %s is full", "sdb");
    return 1;
}

static atomic_int stopped_at;

static int until_cancelled(tl_ctx_t *c, void *arg)
{
    for (int i = 0; i < 100000; i++) {
        if (tl_ctx_checkpoint(c) != 0) {
            atomic_store(&stopped_at, i + 1);
            return 0;
        }
        sleep_ms(1);
    }
    return 0;
}

static tl_task_t *run_one(tl_task_fn fn, double timeout_s, int64_t *id)
{
    tl_function_t f = {.fn = fn, .title = "t", .timeout_s = timeout_s};
    assert_int_equal(tl_submit_function(m, &f, id), 0);
    tl_task_t *t = NULL;
    assert_int_equal(tl_task_wait(m, *id, 20, &t), 0);
    return t;
}

static void test_progress_result_and_steps(void **state)
{
    int64_t id;
    tl_task_t *t = run_one(count_to_100, 0, &id);
    assert_int_equal(tl_task_state(t), TL_STATE_COMPLETED);
    assert_true(t->progress == 100.0);
    assert_true(t->current == 24.0 && t->total == 24.0);
    assert_string_equal(t->message, "done 24");
    assert_int_equal(json_integer_value(json_object_get(t->result, "answer")),
                     42);
    assert_int_equal(json_array_size(t->substeps), 1);
    json_t *s = json_array_get(t->substeps, 0);
    assert_string_equal(json_string_value(json_object_get(s, "state")),
                        "completed");
    tl_task_free(t);
}

static void test_failure_keeps_the_message(void **state)
{
    int64_t id;
    tl_task_t *t = run_one(failing, 0, &id);
    assert_int_equal(tl_task_state(t), TL_STATE_FAILED);
    assert_string_equal(tl_task_error(t), "disk sdb is full");
    tl_task_free(t);
}

static void test_timeout_cancels_cooperatively(void **state)
{
    int64_t id;
    atomic_store(&stopped_at, 0);
    tl_task_t *t = run_one(until_cancelled, 0.2, &id);
    assert_int_equal(tl_task_state(t), TL_STATE_FAILED);
    assert_string_equal(tl_task_error(t), "timed out after 0.2s");
    assert_true(atomic_load(&stopped_at) > 0);
    tl_task_free(t);
}

static void test_cancel_and_pause(void **state)
{
    tl_function_t f = {.fn = until_cancelled};
    int64_t id;
    atomic_store(&stopped_at, 0);
    assert_int_equal(tl_submit_function(m, &f, &id), 0);
    tl_task_t *t = NULL;
    for (int i = 0; i < 100; i++) { /* until it runs */
        tl_manager_run_once(m, 1);
        tl_task_free(t);
        assert_int_equal(tl_task_get(m, id, &t), 0);
        if (tl_task_state(t) == TL_STATE_RUNNING)
            break;
        sleep_ms(5);
    }
    tl_task_free(t);
    assert_int_equal(tl_task_pause(m, id), 0);
    sleep_ms(100);
    assert_int_equal(atomic_load(&stopped_at), 0); /* still paused */
    assert_int_equal(tl_task_resume(m, id), 0);
    assert_int_equal(tl_task_cancel(m, id), 0);
    assert_int_equal(tl_task_wait(m, id, 10, &t), 0);
    assert_int_equal(tl_task_state(t), TL_STATE_CANCELLED);
    tl_task_free(t);
    assert_int_equal(tl_wait_all(m, 10), 0);
    assert_true(atomic_load(&stopped_at) > 0);
}

static atomic_int order[8];
static atomic_int order_len;

static int record(tl_ctx_t *c, void *arg)
{
    order[atomic_fetch_add(&order_len, 1)] = (int)(intptr_t)arg;
    return 0;
}

static void test_priority_among_queued(void **state)
{
    assert_int_equal(tl_manager_set_workers(m, 1), 0);
    tl_function_t block = {.fn = until_cancelled};
    int64_t b;
    assert_int_equal(tl_submit_function(m, &block, &b), 0);
    tl_manager_run_once(m, 1);
    atomic_store(&order_len, 0);
    for (int i = 0; i < 3; i++) {
        tl_function_t f = {
            .fn = record, .arg = (void *)(intptr_t)i, .priority = i};
        assert_int_equal(tl_submit_function(m, &f, NULL), 0);
    }
    assert_int_equal(tl_task_cancel(m, b), 0);
    assert_int_equal(tl_wait_all(m, 10), 0);
    assert_int_equal(atomic_load(&order_len), 3);
    assert_int_equal(order[0], 2); /* highest priority first */
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 0);
}

static int frees;
static void count_free(void *arg)
{
    frees++;
}

static void test_free_arg_once(void **state)
{
    frees = 0;
    tl_function_t f = {.fn = failing, .free_arg = count_free};
    int64_t id;
    assert_int_equal(tl_submit_function(m, &f, &id), 0);
    assert_int_equal(tl_wait_all(m, 10), 0);
    assert_int_equal(frees, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_progress_result_and_steps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failure_keeps_the_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cancels_cooperatively,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_among_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_arg_once, setup, teardown),
    };
    return cmocka_run_group_tests_name("functions", tests, NULL, NULL);
}
