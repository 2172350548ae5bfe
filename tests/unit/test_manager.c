/*
 * test_manager.c -- the state machine, queue order, groups and restart
 * recovery, through the public API on a real SQLite file and real
 * processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "task.h"
#include "tasklight.h"

static char dir[64];

static int setup(void **state)
{
    strcpy(dir, "/tmp/tl-mgr-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static tl_manager_t *open_mgr(void)
{
    tl_manager_options_t o = {.data_dir = dir, .retry_base_s = 0.05};
    tl_manager_t *m = NULL;
    assert_int_equal(tl_manager_open(&o, &m), 0);
    return m;
}

static int64_t submit(tl_manager_t *m, const char *group, int64_t prio,
                      const char *const *argv)
{
    tl_submit_t s = {.argv = argv, .group = group, .priority = prio};
    int64_t id = 0;
    assert_int_equal(tl_submit_command(m, &s, &id), 0);
    assert_true(id > 0);
    return id;
}

static tl_task_t *wait_final(tl_manager_t *m, int64_t id)
{
    tl_task_t *t = NULL;
    assert_int_equal(tl_task_wait(m, id, 20, &t), 0);
    return t;
}

static void test_transitions(void **state)
{
    assert_true(tl__state_transition_ok(TL_STATE_QUEUED, TL_STATE_RUNNING));
    assert_true(tl__state_transition_ok(TL_STATE_RUNNING, TL_STATE_PAUSED));
    assert_true(tl__state_transition_ok(TL_STATE_PAUSED, TL_STATE_RUNNING));
    assert_true(tl__state_transition_ok(TL_STATE_FAILED, TL_STATE_QUEUED));
    assert_true(tl__state_transition_ok(TL_STATE_CANCELLED, TL_STATE_QUEUED));
    assert_false(tl__state_transition_ok(TL_STATE_QUEUED, TL_STATE_COMPLETED));
    assert_false(tl__state_transition_ok(TL_STATE_QUEUED, TL_STATE_PAUSED));
    assert_false(tl__state_transition_ok(TL_STATE_COMPLETED, TL_STATE_QUEUED));
    assert_false(tl__state_transition_ok(TL_STATE_COMPLETED, TL_STATE_RUNNING));
    assert_false(tl__state_transition_ok(TL_STATE_CANCELLED, TL_STATE_RUNNING));
    for (int s = 0; s < TL_STATE__COUNT; s++)
        assert_false(tl__state_transition_ok((tl_state_t)s, (tl_state_t)s));
}

static void test_priority_order(void **state)
{
    tl_manager_t *m = open_mgr();
    assert_int_equal(tl_group_set_parallel(m, "default", 1), 0);
    const char *const block[] = {"sleep", "0.3", NULL};
    const char *const quick[] = {"true", NULL};
    int64_t first = submit(m, NULL, 0, block);
    tl_manager_run_once(m, 1); /* the blocker takes the only slot */
    int64_t low = submit(m, NULL, -10, quick);
    int64_t n1 = submit(m, NULL, 0, quick);
    int64_t high = submit(m, NULL, 10, quick);
    int64_t n2 = submit(m, NULL, 0, quick);
    int64_t order[] = {first, high, n1, n2, low};
    int64_t prev = 0;
    for (int i = 0; i < 5; i++) {
        tl_task_t *t = wait_final(m, order[i]);
        assert_int_equal(tl_task_state(t), TL_STATE_COMPLETED);
        assert_true(t->started_at >= prev);
        prev = t->started_at;
        tl_task_free(t);
    }
    tl_manager_close(m);
}

static void test_illegal_changes(void **state)
{
    tl_manager_t *m = open_mgr();
    assert_int_equal(tl_group_set_parallel(m, "g", 1), 0);
    const char *const block[] = {"sleep", "5", NULL};
    int64_t a = submit(m, "g", 0, block);
    int64_t b = submit(m, "g", 0, block);
    tl_manager_run_once(m, 1);
    assert_int_equal(tl_task_pause(m, b), TL_ECONFLICT);  /* queued */
    assert_int_equal(tl_task_resume(m, a), TL_ECONFLICT); /* running */
    assert_int_equal(tl_task_retry(m, a), TL_ECONFLICT);
    assert_int_equal(tl_task_remove(m, a), TL_ECONFLICT);
    assert_int_equal(tl_task_cancel(m, 999), TL_ENOTFOUND);
    assert_int_equal(tl_task_cancel(m, b), 0);
    assert_int_equal(tl_task_cancel(m, b), TL_ECONFLICT);
    assert_int_equal(tl_task_pause(m, a), 0);
    assert_int_equal(tl_task_pause(m, a), TL_ECONFLICT);
    assert_int_equal(tl_task_resume(m, a), 0);
    assert_int_equal(tl_task_cancel(m, a), 0);
    tl_task_t *t = wait_final(m, a);
    assert_int_equal(tl_task_state(t), TL_STATE_CANCELLED);
    tl_task_free(t);
    tl_manager_close(m);
}

static void test_exit_codes_and_retries(void **state)
{
    tl_manager_t *m = open_mgr();
    const char *const fail[] = {"sh", "-c", "exit 7", NULL};
    tl_submit_t s = {.argv = fail, .max_retries = 2};
    int64_t id;
    assert_int_equal(tl_submit_command(m, &s, &id), 0);
    tl_task_t *t = NULL;
    for (int i = 0; i < 200; i++) { /* wait through the retries */
        tl_task_free(t);
        t = wait_final(m, id);
        if (t->attempt == 3)
            break;
        tl_manager_run_once(m, 0);
    }
    assert_int_equal(tl_task_state(t), TL_STATE_FAILED);
    assert_int_equal(tl_task_exit_code(t), 7);
    assert_int_equal(t->attempt, 3);
    assert_string_equal(tl_task_error(t), "exited with code 7");
    tl_task_free(t);
    const char *const missing[] = {"/nonexistent/tl-test", NULL};
    t = wait_final(m, submit(m, NULL, 0, missing));
    assert_int_equal(tl_task_state(t), TL_STATE_FAILED);
    assert_non_null(strstr(tl_task_error(t), "not found"));
    tl_task_free(t);
    tl_manager_close(m);
}

static void test_restart_recovery(void **state)
{
    tl_manager_t *m = open_mgr();
    assert_int_equal(tl_group_set_parallel(m, "r", 1), 0);
    const char *const block[] = {"sleep", "5", NULL};
    int64_t running = submit(m, "r", 0, block);
    tl_manager_run_once(m, 1); /* it takes the only slot */
    int64_t queued1 = submit(m, "r", 0, block);
    int64_t queued2 = submit(m, "r", 5, block);
    tl_manager_run_once(m, 1);
    tl_manager_close(m); /* stops the running task: interrupted */

    m = open_mgr();
    tl_task_t *t;
    assert_int_equal(tl_task_get(m, running, &t), 0);
    assert_int_equal(tl_task_state(t), TL_STATE_FAILED);
    assert_string_equal(tl_task_error(t), "interrupted: daemon stopped");
    tl_task_free(t);
    tl_manager_run_once(m, 1);
    assert_int_equal(tl_task_get(m, queued2, &t), 0); /* higher priority */
    assert_int_equal(tl_task_state(t), TL_STATE_RUNNING);
    tl_task_free(t);
    assert_int_equal(tl_task_get(m, queued1, &t), 0);
    assert_int_equal(tl_task_state(t), TL_STATE_QUEUED);
    tl_task_free(t);
    tl_manager_close(m);
}

static void test_second_manager_refused(void **state)
{
    tl_manager_t *m = open_mgr();
    tl_manager_options_t o = {.data_dir = dir};
    tl_manager_t *m2 = NULL;
    assert_int_equal(tl_manager_open(&o, &m2), TL_EBUSY);
    assert_null(m2);
    tl_manager_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),
        cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_codes_and_retries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_manager_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("manager", tests, NULL, NULL);
}
