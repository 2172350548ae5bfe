/*
 * auth.c -- API principals, roles, token secrets and request rates. See
 * auth.h for the DESIGN.
 */
#include "auth.h"

#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const role_names[] = {"read-only", "user", "admin"};

const char *tl__role_name(tl__role_t r)
{
    return role_names[r];
}

int tl__role_parse(const char *s, tl__role_t *out)
{
    for (int i = 0; s && i < 3; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (tl__role_t)i;
            return 0;
        }
    }
    return TL_EINVAL;
}

static int set_principal(tl__principal_t *p, const char *name,
                         const char *secret, tl__role_t role, int64_t created)
{
    p->name = strdup(name);
    p->secret = secret ? strdup(secret) : NULL;
    p->role = role;
    p->created_at = created;
    p->bucket = -1; /* full on first use */
    return !p->name || (secret && !p->secret) ? TL_ENOMEM : 0;
}

static void clear_principal(tl__principal_t *p)
{
    free(p->name);
    free(p->secret);
}

int tl__auth_init(tl__auth_t *a, const char *admin_secret, double rate)
{
    memset(a, 0, sizeof(*a));
    a->rate = rate > 0 ? rate : 0;
    int rc = set_principal(&a->local, "local", NULL, TL__ROLE_ADMIN, 0);
    return rc ? rc
              : set_principal(&a->admin, "admin", admin_secret, TL__ROLE_ADMIN,
                              0);
}

void tl__auth_free(tl__auth_t *a)
{
    clear_principal(&a->local);
    clear_principal(&a->admin);
    for (size_t i = 0; i < a->n; i++) {
        clear_principal(a->named[i]);
        free(a->named[i]);
    }
    free(a->named);
    memset(a, 0, sizeof(*a));
}

static int push(tl__auth_t *a, const char *name, const char *secret,
                tl__role_t role, int64_t created)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        tl__principal_t **v = realloc(a->named, cap * sizeof(*v));
        if (!v)
            return TL_ENOMEM;
        a->named = v;
        a->cap = cap;
    }
    tl__principal_t *p = calloc(1, sizeof(*p));
    if (!p || set_principal(p, name, secret, role, created)) {
        if (p)
            clear_principal(p);
        free(p);
        return TL_ENOMEM;
    }
    a->named[a->n++] = p;
    return 0;
}

static void load_one(const char *name, const char *secret, const char *role,
                     int64_t created, void *ud)
{
    tl__role_t r;
    if (name && secret && tl__role_parse(role, &r) == 0)
        push(ud, name, secret, r, created);
}

int tl__auth_load(tl__auth_t *a, tl__store_t *s)
{
    return s->ops->load_tokens(s, load_one, a);
}

/* Constant time in the secret's content: every byte of every token is
 * looked at, whatever matches. */
static bool secret_eq(const char *given, size_t glen, const char *known)
{
    size_t klen = strlen(known);
    volatile unsigned char diff = (unsigned char)(glen != klen);
    for (size_t i = 0; i < klen; i++)
        diff |= (unsigned char)(known[i] ^ (i < glen ? given[i] : 0));
    return diff == 0;
}

tl__principal_t *tl__auth_match(tl__auth_t *a, const char *secret)
{
    if (!secret || !*secret)
        return NULL;
    size_t len = strlen(secret);
    tl__principal_t *found = NULL;
    if (secret_eq(secret, len, a->admin.secret))
        found = &a->admin;
    for (size_t i = 0; i < a->n; i++)
        if (secret_eq(secret, len, a->named[i]->secret) && !found)
            found = a->named[i];
    return found;
}

bool tl__auth_rate_ok(tl__auth_t *a, tl__principal_t *p, int64_t now_ms)
{
    if (a->rate <= 0 || p == &a->local)
        return true;
    double burst = a->rate * 2;
    if (p->bucket < 0) {
        p->bucket = burst;
    } else {
        p->bucket += a->rate * (double)(now_ms - p->refill_ms) / 1000.0;
        if (p->bucket > burst)
            p->bucket = burst;
    }
    p->refill_ms = now_ms;
    if (p->bucket < 1) {
        a->rate_limited++;
        return false;
    }
    p->bucket -= 1;
    return true;
}

static int random_secret(char *out, size_t hex_len)
{
    unsigned char raw[32];
    size_t n = hex_len / 2;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || n > sizeof(raw) || read(fd, raw, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return TL_EIO;
    }
    close(fd);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int tl__auth_add(tl__auth_t *a, tl__store_t *s, const char *name,
                 tl__role_t role, int64_t now_ms, const char **secret)
{
    if (strcmp(name, "admin") == 0 || strcmp(name, "local") == 0)
        return TL_ECONFLICT;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->named[i]->name, name) == 0)
            return TL_ECONFLICT;
    char buf[49];
    int rc = random_secret(buf, 48);
    rc = rc ? rc : s->ops->put_token(s, name, buf, tl__role_name(role), now_ms);
    rc = rc ? rc : push(a, name, buf, role, now_ms);
    if (!rc)
        *secret = a->named[a->n - 1]->secret;
    return rc;
}

int tl__auth_remove(tl__auth_t *a, tl__store_t *s, const char *name)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->named[i]->name, name) != 0)
            continue;
        int rc = s->ops->delete_token(s, name);
        if (rc)
            return rc;
        clear_principal(a->named[i]);
        free(a->named[i]);
        a->named[i] = a->named[--a->n];
        return 0;
    }
    return TL_ENOTFOUND;
}

json_t *tl__auth_list_json(const tl__auth_t *a)
{
    json_t *v = json_array();
    for (size_t i = 0; v && i < a->n; i++) {
        char ts[40];
        tl__fmt_time(a->named[i]->created_at, ts, sizeof(ts));
        json_array_append_new(
            v, json_pack("{s:s, s:s, s:s}", "name", a->named[i]->name, "role",
                         tl__role_name(a->named[i]->role), "created_at", ts));
    }
    return v ? json_pack("{s:o}", "tokens", v) : NULL;
}
