/*
 * auth.h -- who is asking: the principals of the HTTP API and their roles.
 *
 * DESIGN: the unix socket's peer is "local" (its file mode is the access
 * control) with the admin role. Over TCP a request carries a token: the
 * daemon's own (DATA_DIR/token, principal "admin") or a named token made
 * with `tl token add`, stored in the store with its role. Tokens are
 * compared in constant time against every known one, so timing tells
 * nothing about which or how much matched. Roles: read-only (GET and HEAD
 * only), user (may change tasks; with --multi-user only its own), admin
 * (everything, tokens included). Each TCP principal has a token bucket
 * for its request rate.
 */
#ifndef TL_AUTH_H
#define TL_AUTH_H

#include "store.h"

#include <jansson.h>
#include <stdbool.h>

typedef enum {
    TL__ROLE_READ_ONLY = 0,
    TL__ROLE_USER = 1,
    TL__ROLE_ADMIN = 2
} tl__role_t;

typedef struct tl__principal {
    char *name;
    char *secret; /* NULL for "local" */
    tl__role_t role;
    int64_t created_at;
    double bucket;     /* requests left in the rate bucket */
    int64_t refill_ms; /* when the bucket was last topped up */
} tl__principal_t;

typedef struct tl__auth {
    tl__principal_t local, admin;
    tl__principal_t **named;
    size_t n, cap;
    double rate;           /* requests per second per principal; 0: no limit */
    uint64_t rate_limited; /* requests refused for rate */
} tl__auth_t;

int tl__auth_init(tl__auth_t *a, const char *admin_secret, double rate);
void tl__auth_free(tl__auth_t *a);
int tl__auth_load(tl__auth_t *a, tl__store_t *s);
/* The principal whose secret this is, or NULL. */
tl__principal_t *tl__auth_match(tl__auth_t *a, const char *secret);
/* Whether p may make one more request now (token bucket). */
bool tl__auth_rate_ok(tl__auth_t *a, tl__principal_t *p, int64_t now_ms);
const char *tl__role_name(tl__role_t r);
int tl__role_parse(const char *s, tl__role_t *out);
/* Adds a named token (the secret is made here, returned in *secret,
 * owned by the principal); TL_ECONFLICT for a name in use. */
int tl__auth_add(tl__auth_t *a, tl__store_t *s, const char *name,
                 tl__role_t role, int64_t now_ms, const char **secret);
int tl__auth_remove(tl__auth_t *a, tl__store_t *s, const char *name);
json_t *tl__auth_list_json(const tl__auth_t *a);

#endif
