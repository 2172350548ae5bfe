/*
 * func.h -- function tasks: C functions run on the manager's worker pool.
 */
#ifndef TL_FUNC_H
#define TL_FUNC_H

#include "tasklight.h"

#include <stdbool.h>

typedef struct tl__pool tl__pool_t;
struct tl__job;

/* What to run, kept with the job until it runs (or is dropped). */
typedef struct tl__func_spec {
    tl_task_fn fn;
    void *arg;
    void (*free_arg)(void *arg);
} tl__func_spec_t;

int tl__pool_new(struct tl_manager *m, int workers, tl__pool_t **out);
/* Cancels nothing: waits for the running functions, joins the threads. */
void tl__pool_free(tl__pool_t *p);
int tl__pool_resize(tl__pool_t *p, int workers);

/* Runs the job's function on the pool (the job is running already). */
int tl__func_dispatch(struct tl__job *j);
void tl__func_cancel(tl_ctx_t *c, bool timed_out);
void tl__func_pause(tl_ctx_t *c);
void tl__func_resume(tl_ctx_t *c);
void tl__func_spec_free(tl__func_spec_t *s);

#endif
