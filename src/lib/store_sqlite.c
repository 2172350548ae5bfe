/*
 * store_sqlite.c -- the SQLite backend of the store (store.h): one database
 * file holding the tasks, the group limits and per-state counts.
 *
 * DESIGN: one connection, used only by the manager's thread (NOMUTEX).
 * Durability: WAL with synchronous=NORMAL, so a commit survives a crash of
 * the process (the WAL is in the OS page cache) but a power loss or kernel
 * crash may lose the last few commits; the database itself never corrupts.
 * Counts: task_counts holds one row per state, kept by triggers on every
 * insert, delete and state change, so count_states reads six rows instead
 * of counting a million. Pagination: lists are keyset pages (id < cursor,
 * newest first) on indexes that lead with the filtered column and end with
 * id, so a page costs its own rows, not the history behind it; a state
 * filter always drives the (state, id) index, which keeps the active states
 * fast however many finished tasks there are. Ids use AUTOINCREMENT so they
 * are never reused, even after the newest task is deleted. Migrations:
 * PRAGMA user_version is the schema version; migrations[i] takes version i
 * to i + 1, each in its own IMMEDIATE transaction that rechecks the
 * version, so two processes opening an old file do not both migrate it. A
 * file newer than this build is refused rather than guessed at.
 * Statements are prepared once at open (list variants on first use) and
 * reset after each use, so no statement stays active between calls.
 */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schema ------------------------------------------------------------ */

/* The state CHECK as the first schema wrote it, and as it is now (SQL
 * string literals of the constraint's text). */
#define STATE_CHECK_IN                                                         \
    "'CHECK (state IN (''queued'', ''running'', ''paused'',  ''completed'',"   \
    " ''failed'', ''cancelled''))'"
#define STATE_CHECK_OR                                                         \
    "'CHECK (state = ''queued'' OR state = ''running'' OR state = "            \
    "''paused'' OR state = ''completed'' OR state = ''failed'' OR "            \
    "state = ''cancelled'')'"

static const char *const migrations[] = {
    /* 0 -> 1: tasks and group limits. */
    "CREATE TABLE tasks ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " key TEXT UNIQUE,"
    " kind TEXT, title TEXT, description TEXT, grp TEXT, owner TEXT,"
    " state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'paused',"
    "  'completed', 'failed', 'cancelled')),"
    " source TEXT,"
    " priority INTEGER NOT NULL DEFAULT 0,"
    " progress REAL, current REAL, total REAL,"
    " unit TEXT, message TEXT, error TEXT,"
    " metadata TEXT, substeps TEXT, result TEXT,"
    " exit_code INTEGER,"
    " attempt INTEGER NOT NULL DEFAULT 0,"
    " max_retries INTEGER NOT NULL DEFAULT 0,"
    " timeout_s REAL NOT NULL DEFAULT 0,"
    " argv TEXT, cwd TEXT, env TEXT,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL DEFAULT 0,"
    " started_at INTEGER NOT NULL DEFAULT 0,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT 0,"
    " run_after INTEGER NOT NULL DEFAULT 0,"
    " paused_ms INTEGER NOT NULL DEFAULT 0,"
    " paused_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_state_id ON tasks (state, id);"
    "CREATE INDEX tasks_kind_id ON tasks (kind, id);"
    "CREATE INDEX tasks_grp_id ON tasks (grp, id);"
    /* Retention (delete_finished) without scanning every finished row. */
    "CREATE INDEX tasks_finished_at ON tasks (finished_at)"
    " WHERE finished_at > 0;"
    "CREATE TABLE groups (name TEXT PRIMARY KEY, parallel INTEGER NOT NULL);",

    /* 1 -> 2: per-state counts kept by triggers. */
    "CREATE TABLE task_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO task_counts (state, n) VALUES ('queued', 0), ('running', 0),"
    " ('paused', 0), ('completed', 0), ('failed', 0), ('cancelled', 0);"
    "INSERT OR REPLACE INTO task_counts (state, n)"
    " SELECT state, count(*) FROM tasks GROUP BY state;"
    "CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN"
    " UPDATE task_counts SET n = n + 1 WHERE state = new.state;"
    " END;"
    "CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN"
    " UPDATE task_counts SET n = n - 1 WHERE state = old.state;"
    " END;"
    "CREATE TRIGGER tasks_count_update AFTER UPDATE OF state ON tasks"
    " WHEN old.state IS NOT new.state BEGIN"
    " UPDATE task_counts SET n = n - 1 WHERE state = old.state;"
    " UPDATE task_counts SET n = n + 1 WHERE state = new.state;"
    " END;",

    /* 2 -> 3: the process of a running command task, so a daemon that
     * restarts after a crash can find and stop what its predecessor ran;
     * tracked tasks' heartbeat timeout and pause request. */
    "ALTER TABLE tasks ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN heartbeat_timeout_s REAL NOT NULL"
    " DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN pause_requested INTEGER NOT NULL"
    " DEFAULT 0;"
    "ALTER TABLE tasks ADD COLUMN progress_parse INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE tasks ADD COLUMN progress_regex TEXT;"
    "ALTER TABLE tasks ADD COLUMN node TEXT;"
    "CREATE TABLE tokens (name TEXT PRIMARY KEY, secret TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, created_at INTEGER NOT NULL);",

    /* 3 -> 4: inserts and state changes count in the store's code, once
     * per state per transaction (see add_count); the triggers ran a
     * sub-program on every write and doubled its cost. Deletes, rare and
     * made in bulk by retention, keep theirs. */
    "DROP TRIGGER tasks_count_insert;"
    "DROP TRIGGER tasks_count_update;",

    /* 4 -> 5: the state CHECK as a chain of ORs. SQLite builds a
     * temporary b-tree for an IN list on every insert and update that
     * checks it (a third of a write's cost); the ORs say the same and
     * cost nothing. The rows do not change, so the table is not rebuilt:
     * its definition is edited in place, as SQLite documents for changing
     * a CHECK (https://sqlite.org/lang_altertable.html#otheralter), and
     * bump_schema_cookie (migration_after) finishes the edit. */
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_master SET sql = replace(sql, " STATE_CHECK_IN
    ", " STATE_CHECK_OR ") WHERE type = 'table' AND name = 'tasks';"
    "PRAGMA writable_schema = OFF;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
                   TL__SQLITE_SCHEMA_VERSION,
               "one migration step per schema version");

/* Columns in the order every SELECT returns them; the enum is the column
 * index, and for INSERT and UPDATE also the parameter number. */
enum col {
    C_ID,
    C_KEY,
    C_KIND,
    C_TITLE,
    C_DESCRIPTION,
    C_GRP,
    C_OWNER,
    C_STATE,
    C_SOURCE,
    C_PRIORITY,
    C_PROGRESS,
    C_CURRENT,
    C_TOTAL,
    C_UNIT,
    C_MESSAGE,
    C_ERROR,
    C_METADATA,
    C_SUBSTEPS,
    C_RESULT,
    C_EXIT_CODE,
    C_ATTEMPT,
    C_MAX_RETRIES,
    C_TIMEOUT_S,
    C_ARGV,
    C_CWD,
    C_ENV,
    C_CANCEL_REQUESTED,
    C_CREATED_AT,
    C_STARTED_AT,
    C_FINISHED_AT,
    C_UPDATED_AT,
    C_RUN_AFTER,
    C_PAUSED_MS,
    C_PAUSED_AT,
    C_PID,
    C_PID_START,
    C_HEARTBEAT_TIMEOUT_S,
    C_PAUSE_REQUESTED,
    C_PROGRESS_PARSE,
    C_PROGRESS_REGEX,
    C_NODE,
};

#define TASK_COLS                                                              \
    "id, key, kind, title, description, grp, owner, state, source, "           \
    "priority, progress, current, total, unit, message, error, metadata, "     \
    "substeps, result, exit_code, attempt, max_retries, timeout_s, argv, "     \
    "cwd, env, cancel_requested, created_at, started_at, finished_at, "        \
    "updated_at, run_after, paused_ms, paused_at, pid, pid_start, "            \
    "heartbeat_timeout_s, pause_requested, progress_parse, progress_regex, "   \
    "node"

#define ACTIVE_STATES "('queued', 'running', 'paused')"
#define FINAL_STATES "('completed', 'failed', 'cancelled')"

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_INSERT,
    ST_UPDATE,
    ST_UPDATE_LIVE,
    ST_DELETE,
    ST_LOAD,
    ST_FIND_KEY,
    ST_ACTIVE,
    ST_COUNTS,
    ST_COUNT_ADD,
    ST_STATE_OF,
    ST_CLAIM,
    ST_SET_GROUP,
    ST_GROUPS,
    ST_FINISHED_IDS,
    ST_DELETE_FINISHED,
    ST_DURATIONS,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT tl_store",
    [ST_RELEASE] = "RELEASE tl_store",
    [ST_ROLLBACK_TO] = "ROLLBACK TO tl_store",
    [ST_INSERT] =
        "INSERT INTO tasks (key, kind, title, description, grp, owner, state,"
        " source, priority, progress, current, total, unit, message, error,"
        " metadata, substeps, result, exit_code, attempt, max_retries,"
        " timeout_s, argv, cwd, env, cancel_requested, created_at,"
        " started_at, finished_at, updated_at, run_after, paused_ms,"
        " paused_at, pid, pid_start, heartbeat_timeout_s, pause_requested,"
        " progress_parse, progress_regex, node)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
        " ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39,"
        " ?40)",
/* A task's command (argv ?23, cwd ?24, env ?25) and what it was
 * created as (key ?1, kind ?2, owner ?6, source ?8, created_at ?27)
 * never change once stored: updates leave them, so their indexes are
 * not rewritten and the environment is not encoded again. SQLite
 * rewrites an index entry whenever a column of it is SET, changed or
 * not: ST_UPDATE_LIVE also leaves the indexed state ?7, group ?5 and
 * finished_at ?29, for the writes that do not move them (a started
 * task's progress, its pid, its message). */
#define UPDATE_LIVE_COLS                                                       \
    "title = ?3, description = ?4, priority = ?9,"                             \
    " progress = ?10, current = ?11, total = ?12, unit = ?13,"                 \
    " message = ?14, error = ?15, metadata = ?16, substeps = ?17,"             \
    " result = ?18, exit_code = ?19, attempt = ?20, max_retries = ?21,"        \
    " timeout_s = ?22, cancel_requested = ?26, started_at = ?28,"              \
    " updated_at = ?30, run_after = ?31, paused_ms = ?32, paused_at = ?33,"    \
    " pid = ?34, pid_start = ?35, heartbeat_timeout_s = ?36,"                  \
    " pause_requested = ?37, progress_parse = ?38, progress_regex = ?39,"      \
    " node = ?40"
    [ST_UPDATE] = "UPDATE tasks SET state = ?7, grp = ?5, finished_at = ?29,"
                  " " UPDATE_LIVE_COLS " WHERE id = ?41",
    [ST_UPDATE_LIVE] = "UPDATE tasks SET " UPDATE_LIVE_COLS " WHERE id = ?41",
    [ST_DELETE] = "DELETE FROM tasks WHERE id = ?1",
    [ST_LOAD] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
    [ST_FIND_KEY] = "SELECT " TASK_COLS " FROM tasks WHERE key = ?1",
    [ST_ACTIVE] = "SELECT " TASK_COLS
                  " FROM tasks WHERE state IN " ACTIVE_STATES " ORDER BY id",
    [ST_COUNTS] = "SELECT state, n FROM task_counts",
    [ST_COUNT_ADD] = "UPDATE task_counts SET n = n + ?2 WHERE state = ?1",
    [ST_STATE_OF] = "SELECT state FROM tasks WHERE id = ?1",
    [ST_CLAIM] = "UPDATE tasks SET state = 'running', node = ?1,"
                 " started_at = ?2, updated_at = ?2"
                 " WHERE id = ?3 AND state = 'queued'",
    [ST_SET_GROUP] = "INSERT INTO groups (name, parallel) VALUES (?1, ?2)"
                     " ON CONFLICT (name) DO UPDATE"
                     " SET parallel = excluded.parallel",
    [ST_GROUPS] = "SELECT name, parallel FROM groups ORDER BY name",
    /* Unary + keeps the planner on the finished_at index: the state index
     * would walk every finished task. */
    [ST_DURATIONS] = "SELECT finished_at - started_at - paused_ms FROM tasks"
                     " WHERE kind = ?1 AND state = 'completed'"
                     " AND started_at > 0 ORDER BY id DESC LIMIT ?2",
    [ST_FINISHED_IDS] = "SELECT id FROM tasks WHERE finished_at > 0"
                        " AND finished_at < ?1 AND +state IN " FINAL_STATES,
    [ST_DELETE_FINISHED] = "DELETE FROM tasks WHERE finished_at > 0"
                           " AND finished_at < ?1 AND +state IN " FINAL_STATES,
};

/* list_tasks filters; a bit mask of them picks a cached statement. */
enum {
    F_STATE = 1 << 0,
    F_KIND = 1 << 1,
    F_GROUP = 1 << 2,
    F_TEXT = 1 << 3,
    F_CURSOR = 1 << 4,
    F__VARIANTS = 1 << 5
};

static const char *const source_names[] = {"command", "tracked", "function"};

struct sqlite_store {
    tl__store_t base;
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *list[F__VARIANTS];
    /* What the open transaction's inserts and state changes add to
     * task_counts, written by the commit (add_count). */
    int64_t count_delta[TL_STATE__COUNT];
    char err[512];
};

/* Why the last open failed: there is no store to hold it. errmsg(NULL)
 * returns it. */
static _Thread_local char open_err[1024];

int tl__store_sqlite_migrate_to(sqlite3 *db, int version);

/* ---- errors ------------------------------------------------------------ */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
        return 0;
    case SQLITE_FULL:
        return TL_EFULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return TL_EBUSY;
    case SQLITE_NOMEM:
        return TL_ENOMEM;
    default:
        return TL_ESTORE;
    }
}

/* Records what failed with SQLite's own words; returns the tl_err_t. */
static int fail(struct sqlite_store *s, int rc, const char *what)
{
    snprintf(s->err, sizeof(s->err), "%s: %s", what, sqlite3_errmsg(s->db));
    rc = map_rc(rc);
    return rc ? rc : TL_ESTORE;
}

static int fail_msg(struct sqlite_store *s, int err, const char *msg)
{
    snprintf(s->err, sizeof(s->err), "%s", msg);
    return err;
}

/* ---- migrations -------------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t len,
                    const char *what)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    snprintf(err, len, "%s: %s", what, sqlite3_errmsg(db));
    rc = map_rc(rc);
    return rc ? rc : TL_ESTORE;
}

static int user_version(sqlite3 *db, int *out, char *err, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        snprintf(err, len, "read schema version: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return map_rc(rc);
}

/* An integer from a one-row query; TL_ESTORE when there is none. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, char *err,
                     size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        snprintf(err, len, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? TL_ESTORE : map_rc(rc);
}

/* After a step that edited the schema's text: moves the schema cookie on
 * when the edit took, so every connection reads it anew. A definition
 * this build does not know (edited by hand) is left as it is: the edit is
 * for speed, and refusing to open over it would be worse. */
static int bump_schema_cookie(sqlite3 *db, char *err, size_t len)
{
    int64_t edited = 0, cookie = 0;
    int rc = query_int(
        db,
        "SELECT count(*) FROM sqlite_master WHERE type ="
        " 'table' AND name = 'tasks' AND instr(sql, " STATE_CHECK_OR ") > 0",
        &edited, err, len);
    if (rc || edited != 1)
        return rc;
    rc = query_int(db, "PRAGMA schema_version", &cookie, err, len);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA schema_version = %lld",
             (long long)cookie + 1);
    return rc ? rc : exec_sql(db, sql, err, len, "schema version");
}

/* What a step needs done in code after its SQL, by step. */
static int (*const migration_after[])(sqlite3 *db, char *err, size_t len) = {
    [4] = bump_schema_cookie,
};

/* Runs step v (v -> v + 1) inside the caller's transaction. */
static int migrate_step(sqlite3 *db, int v, char *err, size_t len)
{
    char sql[64];
    char what[64];
    int rc;

    snprintf(what, sizeof(what), "migrate schema to version %d", v + 1);
    rc = exec_sql(db, migrations[v], err, len, what);
    if (!rc && (size_t)v < sizeof(migration_after) / sizeof(*migration_after) &&
        migration_after[v])
        rc = migration_after[v](db, err, len);
    if (rc)
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
    return exec_sql(db, sql, err, len, what);
}

/* Takes the database one version closer to target; *done when there. */
static int migrate_once(sqlite3 *db, int target, int *done, char *err,
                        size_t len)
{
    int v = 0;
    int rc;

    rc = exec_sql(db, "BEGIN IMMEDIATE", err, len, "begin migration");
    if (rc)
        return rc;
    rc = user_version(db, &v, err, len);
    if (rc)
        goto out;
    if (v > target) {
        snprintf(err, len,
                 "database schema version %d is newer than this build "
                 "supports (%d); use a newer tasklight",
                 v, target);
        rc = TL_ESTORE;
        goto out;
    }
    *done = v == target;
    if (!*done)
        rc = migrate_step(db, v, err, len);
    if (rc)
        goto out;
    rc = exec_sql(db, "COMMIT", err, len, "commit migration");
out:
    if (rc && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* *steps: how many steps it took (may be NULL). */
static int migrate(sqlite3 *db, int target, int *steps, char *err, size_t len)
{
    int done = 0;
    int rc = 0;

    if (target < 0 || target > TL__SQLITE_SCHEMA_VERSION) {
        snprintf(err, len, "no schema version %d", target);
        return TL_EINVAL;
    }
    if (steps)
        *steps = 0;
    while (!done && !rc) {
        rc = migrate_once(db, target, &done, err, len);
        if (!rc && !done && steps)
            (*steps)++;
    }
    return rc;
}

/* Builds (or upgrades) db to schema `version`; for tests that need a
 * database of an older version. 0 or a tl_err_t. */
int tl__store_sqlite_migrate_to(sqlite3 *db, int version)
{
    char err[512];
    return migrate(db, version, NULL, err, sizeof(err));
}

/* ---- open and close ---------------------------------------------------- */

static const char pragmas[] = "PRAGMA journal_mode = WAL;"
                              "PRAGMA synchronous = NORMAL;"
                              "PRAGMA foreign_keys = ON;"
                              "PRAGMA cache_size = -16384;";

static int prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                                NULL);
    return rc == SQLITE_OK ? 0 : fail(s, rc, "prepare statement");
}

static int prepare_all(struct sqlite_store *s)
{
    int rc = 0;
    for (int i = 0; i < ST__COUNT && !rc; i++)
        rc = prepare(s, stmt_sql[i], &s->st[i]);
    return rc;
}

static void sqlite_close(tl__store_t *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    if (!s)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < F__VARIANTS; i++)
        sqlite3_finalize(s->list[i]);
    sqlite3_close_v2(s->db);
    free(s);
}

static int connect_db(struct sqlite_store *s, const char *path)
{
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "open database");
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    return 0;
}

static int sqlite_open(const char *path, tl__store_t **out)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    int rc, steps = 0;

    if (!s) {
        snprintf(open_err, sizeof(open_err), "open %s: out of memory", path);
        return TL_ENOMEM;
    }
    s->base.ops = &tl__store_sqlite_ops;
    rc = connect_db(s, path);
    /* Migrate before the PRAGMAs: a newer file is refused untouched, and
     * foreign keys stay off while tables are rebuilt. */
    rc = rc ? rc
            : migrate(s->db, TL__SQLITE_SCHEMA_VERSION, &steps, s->err,
                      sizeof(s->err));
    if (!rc && steps) {
        /* A step may edit the schema's text, which a connection that has
         * read it does not read again: a fresh one does. */
        sqlite3_close_v2(s->db);
        s->db = NULL;
        rc = connect_db(s, path);
    }
    rc = rc ? rc
            : exec_sql(s->db, pragmas, s->err, sizeof(s->err),
                       "set up database");
    rc = rc ? rc : prepare_all(s);
    if (rc) {
        snprintf(open_err, sizeof(open_err), "%s: %s", path, s->err);
        sqlite_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static const char *sqlite_errmsg(tl__store_t *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    return s ? s->err : open_err;
}

/* ---- statement helpers ------------------------------------------------- */

static void done_stmt(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no rows and resets it. */
static int run(struct sqlite_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc, what);
    done_stmt(st);
    return rc;
}

static int bind_str(sqlite3_stmt *st, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* For strings that outlive the statement's step (a write resets it and
 * clears its bindings before returning): no copy. */
static int bind_str_held(sqlite3_stmt *st, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int bind_num(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_double(st, i, v);
}

/* ---- task rows --------------------------------------------------------- */

/* The JSON texts of a task, compact; NULL members mean SQL NULL. */
struct task_json {
    char *metadata, *substeps, *result, *argv, *env;
};

static char *dump_json(const json_t *v)
{
    /* Most tasks have no metadata and no substeps: spare the encoder. */
    if (json_is_object(v) && json_object_size(v) == 0)
        return strdup("{}");
    if (json_is_array(v) && json_array_size(v) == 0)
        return strdup("[]");
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static char *dump_strv(char **v)
{
    json_t *a = tl__strv_to_json((const char *const *)v);
    char *text = a ? dump_json(a) : NULL;
    json_decref(a);
    return text;
}

static void task_json_free(struct task_json *j)
{
    free(j->metadata);
    free(j->substeps);
    free(j->result);
    free(j->argv);
    free(j->env);
}

/* with_command: also argv and env, which only an insert writes. */
static int task_json_dump(const tl_task_t *t, struct task_json *j,
                          bool with_command)
{
    memset(j, 0, sizeof(*j));
    j->metadata = dump_json(t->metadata);
    j->substeps = dump_json(t->substeps);
    if (t->result)
        j->result = dump_json(t->result);
    if (t->argv && with_command)
        j->argv = dump_strv(t->argv);
    if (t->env && with_command)
        j->env = dump_strv(t->env);
    if ((t->metadata && !j->metadata) || (t->substeps && !j->substeps) ||
        (t->result && !j->result) ||
        (with_command && ((t->argv && !j->argv) || (t->env && !j->env)))) {
        task_json_free(j);
        return TL_ENOMEM;
    }
    return 0;
}

static const char *source_name(tl_source_t src)
{
    if ((int)src < 0 ||
        (size_t)src >= sizeof(source_names) / sizeof(source_names[0]))
        return NULL;
    return source_names[src];
}

/* Binds parameters 1..C_NODE, without copies: t and j outlive the step.
 * Errors are left in the connection. */
static int bind_task(sqlite3_stmt *st, const tl_task_t *t,
                     const struct task_json *j)
{
    int rc = 0;
    rc |= bind_str_held(st, C_KEY, t->key);
    rc |= bind_str_held(st, C_KIND, t->kind);
    rc |= bind_str_held(st, C_TITLE, t->title);
    rc |= bind_str_held(st, C_DESCRIPTION, t->description);
    rc |= bind_str_held(st, C_GRP, t->group);
    rc |= bind_str_held(st, C_OWNER, t->owner);
    rc |= bind_str_held(st, C_STATE, tl_state_name(t->state));
    rc |= bind_str_held(st, C_SOURCE, source_name(t->source));
    rc |= sqlite3_bind_int64(st, C_PRIORITY, t->priority);
    rc |= bind_num(st, C_PROGRESS, t->progress);
    rc |= bind_num(st, C_CURRENT, t->current);
    rc |= bind_num(st, C_TOTAL, t->total);
    rc |= bind_str_held(st, C_UNIT, t->unit);
    rc |= bind_str_held(st, C_MESSAGE, t->message);
    rc |= bind_str_held(st, C_ERROR, t->error);
    rc |= bind_str_held(st, C_METADATA, j->metadata);
    rc |= bind_str_held(st, C_SUBSTEPS, j->substeps);
    rc |= bind_str_held(st, C_RESULT, j->result);
    if (t->exit_code == TL__NO_EXIT_CODE)
        rc |= sqlite3_bind_null(st, C_EXIT_CODE);
    else
        rc |= sqlite3_bind_int(st, C_EXIT_CODE, t->exit_code);
    rc |= sqlite3_bind_int(st, C_ATTEMPT, t->attempt);
    rc |= sqlite3_bind_int(st, C_MAX_RETRIES, t->max_retries);
    rc |= bind_num(st, C_TIMEOUT_S, t->timeout_s);
    rc |= bind_str_held(st, C_ARGV, j->argv);
    rc |= bind_str_held(st, C_CWD, t->cwd);
    rc |= bind_str_held(st, C_ENV, j->env);
    rc |= sqlite3_bind_int(st, C_CANCEL_REQUESTED, t->cancel_requested);
    rc |= sqlite3_bind_int64(st, C_CREATED_AT, t->created_at);
    rc |= sqlite3_bind_int64(st, C_STARTED_AT, t->started_at);
    rc |= sqlite3_bind_int64(st, C_FINISHED_AT, t->finished_at);
    rc |= sqlite3_bind_int64(st, C_UPDATED_AT, t->updated_at);
    rc |= sqlite3_bind_int64(st, C_RUN_AFTER, t->run_after);
    rc |= sqlite3_bind_int64(st, C_PAUSED_MS, t->paused_ms);
    rc |= sqlite3_bind_int64(st, C_PAUSED_AT, t->paused_at);
    rc |= sqlite3_bind_int64(st, C_PID, t->pid);
    rc |= sqlite3_bind_int64(st, C_PID_START, t->pid_start);
    rc |=
        sqlite3_bind_double(st, C_HEARTBEAT_TIMEOUT_S, t->heartbeat_timeout_s);
    rc |= sqlite3_bind_int(st, C_PAUSE_REQUESTED, t->pause_requested);
    rc |= sqlite3_bind_int(st, C_PROGRESS_PARSE, t->progress_parse);
    rc |= t->progress_regex
              ? sqlite3_bind_text(st, C_PROGRESS_REGEX, t->progress_regex, -1,
                                  SQLITE_STATIC)
              : sqlite3_bind_null(st, C_PROGRESS_REGEX);
    rc |= bind_str_held(st, C_NODE, t->node);
    return rc;
}

static int col_str(sqlite3_stmt *st, int i, char **out)
{
    const unsigned char *v;

    free(*out);
    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    v = sqlite3_column_text(st, i);
    if (!v)
        return TL_ENOMEM;
    *out = strdup((const char *)v);
    return *out ? 0 : TL_ENOMEM;
}

static double col_num(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(st, i);
}

/* The JSON value in column i, or NULL when the column is NULL or does
 * not hold valid JSON. */
static json_t *col_json(sqlite3_stmt *st, int i)
{
    const char *text = (const char *)sqlite3_column_text(st, i);
    if (!text)
        return NULL;
    return json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Column i as an object (want_array 0) or array (1); bad JSON gives an
 * empty one. */
static int col_container(sqlite3_stmt *st, int i, int want_array, json_t **out)
{
    json_t *v = col_json(st, i);
    if (!(want_array ? json_is_array(v) : json_is_object(v))) {
        json_decref(v);
        v = want_array ? json_array() : json_object();
        if (!v)
            return TL_ENOMEM;
    }
    json_decref(*out);
    *out = v;
    return 0;
}

/* A string vector from a JSON array; NULL stays NULL, bad JSON gives an
 * empty vector. */
static int col_strv(sqlite3_stmt *st, int i, char ***out)
{
    json_t *a;
    int rc;

    *out = NULL;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    a = col_json(st, i);
    rc = tl__strv_from_json(a, out);
    json_decref(a);
    if (rc == TL_EINVAL) {
        *out = calloc(1, sizeof(**out));
        rc = *out ? 0 : TL_ENOMEM;
    }
    return rc;
}

static int col_state(sqlite3_stmt *st, int i, tl_state_t *out)
{
    const char *name = (const char *)sqlite3_column_text(st, i);
    return tl_state_parse(name, out) ? TL_ESTORE : 0;
}

static tl_source_t col_source(sqlite3_stmt *st, int i)
{
    const char *name = (const char *)sqlite3_column_text(st, i);
    for (size_t k = 0;
         name && k < sizeof(source_names) / sizeof(source_names[0]); k++) {
        if (strcmp(name, source_names[k]) == 0)
            return (tl_source_t)k;
    }
    return TL_SOURCE_COMMAND;
}

static int read_strings(sqlite3_stmt *st, tl_task_t *t)
{
    int rc = 0;
    rc = rc ? rc : col_str(st, C_KEY, &t->key);
    rc = rc ? rc : col_str(st, C_KIND, &t->kind);
    rc = rc ? rc : col_str(st, C_TITLE, &t->title);
    rc = rc ? rc : col_str(st, C_DESCRIPTION, &t->description);
    rc = rc ? rc : col_str(st, C_GRP, &t->group);
    rc = rc ? rc : col_str(st, C_OWNER, &t->owner);
    rc = rc ? rc : col_str(st, C_UNIT, &t->unit);
    rc = rc ? rc : col_str(st, C_MESSAGE, &t->message);
    rc = rc ? rc : col_str(st, C_ERROR, &t->error);
    rc = rc ? rc : col_str(st, C_CWD, &t->cwd);
    rc = rc ? rc : col_str(st, C_PROGRESS_REGEX, &t->progress_regex);
    rc = rc ? rc : col_str(st, C_NODE, &t->node);
    return rc;
}

static int read_json(sqlite3_stmt *st, tl_task_t *t)
{
    int rc = 0;
    rc = rc ? rc : col_container(st, C_METADATA, 0, &t->metadata);
    rc = rc ? rc : col_container(st, C_SUBSTEPS, 1, &t->substeps);
    rc = rc ? rc : col_strv(st, C_ARGV, &t->argv);
    rc = rc ? rc : col_strv(st, C_ENV, &t->env);
    t->result = col_json(st, C_RESULT); /* bad JSON: no result */
    return rc;
}

static void read_numbers(sqlite3_stmt *st, tl_task_t *t)
{
    t->id = sqlite3_column_int64(st, C_ID);
    t->source = col_source(st, C_SOURCE);
    t->priority = sqlite3_column_int64(st, C_PRIORITY);
    t->progress = col_num(st, C_PROGRESS);
    t->current = col_num(st, C_CURRENT);
    t->total = col_num(st, C_TOTAL);
    t->exit_code = sqlite3_column_type(st, C_EXIT_CODE) == SQLITE_NULL
                       ? TL__NO_EXIT_CODE
                       : sqlite3_column_int(st, C_EXIT_CODE);
    t->attempt = sqlite3_column_int(st, C_ATTEMPT);
    t->max_retries = sqlite3_column_int(st, C_MAX_RETRIES);
    t->timeout_s = sqlite3_column_double(st, C_TIMEOUT_S);
    t->cancel_requested = sqlite3_column_int(st, C_CANCEL_REQUESTED) != 0;
    t->created_at = sqlite3_column_int64(st, C_CREATED_AT);
    t->started_at = sqlite3_column_int64(st, C_STARTED_AT);
    t->finished_at = sqlite3_column_int64(st, C_FINISHED_AT);
    t->updated_at = sqlite3_column_int64(st, C_UPDATED_AT);
    t->run_after = sqlite3_column_int64(st, C_RUN_AFTER);
    t->paused_ms = sqlite3_column_int64(st, C_PAUSED_MS);
    t->paused_at = sqlite3_column_int64(st, C_PAUSED_AT);
    t->pid = (int)sqlite3_column_int64(st, C_PID);
    t->pid_start = sqlite3_column_int64(st, C_PID_START);
    t->heartbeat_timeout_s = sqlite3_column_double(st, C_HEARTBEAT_TIMEOUT_S);
    t->pause_requested = sqlite3_column_int(st, C_PAUSE_REQUESTED) != 0;
    t->progress_parse = sqlite3_column_int(st, C_PROGRESS_PARSE) != 0;
}

/* The task in the current row of st. */
static int read_task(struct sqlite_store *s, sqlite3_stmt *st, tl_task_t **out)
{
    tl_task_t *t = tl__task_new();
    int rc;

    if (!t)
        return fail_msg(s, TL_ENOMEM, "read task: out of memory");
    read_numbers(st, t);
    rc = col_state(st, C_STATE, &t->state);
    if (rc) {
        snprintf(s->err, sizeof(s->err), "task %lld has an unknown state",
                 (long long)t->id);
        goto out;
    }
    rc = read_strings(st, t);
    if (!rc)
        rc = read_json(st, t);
    if (rc)
        fail_msg(s, rc, "read task: out of memory");
out:
    if (rc) {
        tl_task_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Steps st expecting at most one row: the task, or TL_ENOTFOUND. */
static int read_one(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
                    tl_task_t **out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = read_task(s, st, out);
    else if (rc == SQLITE_DONE)
        rc = fail_msg(s, TL_ENOTFOUND, what);
    else
        rc = fail(s, rc, what);
    done_stmt(st);
    return rc;
}

/* A growable array of owned tasks. */
struct task_vec {
    tl_task_t **v;
    size_t n, cap;
};

static int vec_push(struct task_vec *a, tl_task_t *t)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        tl_task_t **v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return TL_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = t;
    return 0;
}

static void vec_free(struct task_vec *a, size_t from)
{
    for (size_t i = from; i < a->n; i++)
        tl_task_free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* Reads up to max rows of st into a (max 0: all); *more when a row was
 * left. Resets st. */
static int read_rows(struct sqlite_store *s, sqlite3_stmt *st, size_t max,
                     struct task_vec *a, int *more, const char *what)
{
    tl_task_t *t;
    int rc;

    *more = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (max && a->n == max) {
            *more = 1;
            break;
        }
        rc = read_task(s, st, &t);
        if (rc)
            goto out;
        rc = vec_push(a, t);
        if (rc) {
            tl_task_free(t);
            rc = fail_msg(s, rc, "read tasks: out of memory");
            goto out;
        }
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, rc, what);
out:
    done_stmt(st);
    return rc;
}

/* ---- transactions ------------------------------------------------------ */

static int sqlite_begin(tl__store_t *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    return run(s, s->st[ST_BEGIN], "begin transaction");
}

/* ---- counts ------------------------------------------------------------ */

/* task_counts holds how many tasks are in each state. Deletes keep it by a
 * trigger; inserts and state changes add here, and the transaction's
 * commit writes each state's sum once: a turn that starts and ends a
 * hundred tasks updates three rows, not four hundred. A write made outside
 * a transaction gets its own (own_begin/own_commit), so the counts always
 * commit with the rows they count. */
static void add_count(struct sqlite_store *s, tl_state_t state, int64_t n)
{
    if ((int)state >= 0 && state < TL_STATE__COUNT)
        s->count_delta[state] += n;
}

static int write_counts(struct sqlite_store *s)
{
    sqlite3_stmt *st = s->st[ST_COUNT_ADD];
    for (int i = 0; i < TL_STATE__COUNT; i++) {
        if (!s->count_delta[i])
            continue;
        if (sqlite3_bind_text(st, 1, tl_state_name((tl_state_t)i), -1,
                              SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, s->count_delta[i]) != SQLITE_OK) {
            done_stmt(st);
            return fail(s, sqlite3_errcode(s->db), "count tasks");
        }
        int rc = run(s, st, "count tasks");
        if (rc)
            return rc;
        s->count_delta[i] = 0;
    }
    return 0;
}

static void forget_counts(struct sqlite_store *s)
{
    memset(s->count_delta, 0, sizeof(s->count_delta));
}

static int sqlite_commit(tl__store_t *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    int rc = write_counts(s);
    if (rc) {
        forget_counts(s);
        sqlite3_step(s->st[ST_ROLLBACK]);
        done_stmt(s->st[ST_ROLLBACK]);
        return rc;
    }
    rc = run(s, s->st[ST_COMMIT], "commit");
    /* A commit that failed but left the transaction open would block every
     * later begin; drop it so the store stays usable. */
    if (rc && !sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->st[ST_ROLLBACK]);
        done_stmt(s->st[ST_ROLLBACK]);
    }
    return rc;
}

static int sqlite_rollback(tl__store_t *base)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    forget_counts(s);
    /* SQLite may already have rolled back after an I/O or full error. */
    if (sqlite3_get_autocommit(s->db))
        return 0;
    return run(s, s->st[ST_ROLLBACK], "rollback");
}

/* ---- tasks ------------------------------------------------------------- */

/* with_command: the statement writes argv and env too (an insert). */
static int write_task(struct sqlite_store *s, sqlite3_stmt *st,
                      const tl_task_t *t, bool with_command, const char *what)
{
    struct task_json j;
    int rc;

    if (!tl_state_name(t->state))
        return fail_msg(s, TL_EINVAL, "task has an invalid state");
    rc = task_json_dump(t, &j, with_command);
    if (rc)
        return fail_msg(s, rc, "encode task: out of memory");
    if (bind_task(st, t, &j) != SQLITE_OK) {
        rc = fail(s, sqlite3_errcode(s->db), what);
        done_stmt(st);
    } else {
        rc = run(s, st, what);
    }
    task_json_free(&j);
    return rc;
}

/* A write outside a transaction is made in one of its own (own_begin
 * says whether it began one), so its count commits with it. */
static int own_begin(struct sqlite_store *s, bool *own)
{
    *own = sqlite3_get_autocommit(s->db) != 0;
    return *own ? run(s, s->st[ST_BEGIN], "begin transaction") : 0;
}

static int own_end(struct sqlite_store *s, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc) {
        sqlite_rollback(&s->base);
        return rc;
    }
    return sqlite_commit(&s->base);
}

static int sqlite_insert_task(tl__store_t *base, tl_task_t *t)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    bool own;
    int rc = own_begin(s, &own);
    rc = rc ? rc : write_task(s, s->st[ST_INSERT], t, true, "insert task");
    if (!rc) {
        t->id = sqlite3_last_insert_rowid(s->db);
        add_count(s, t->state, 1);
    }
    return own_end(s, own, rc);
}

/* The state task id has in the store; TL_ENOTFOUND. */
static int stored_state(struct sqlite_store *s, int64_t id, tl_state_t *out)
{
    sqlite3_stmt *st = s->st[ST_STATE_OF];
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc != SQLITE_OK) {
        done_stmt(st);
        return fail(s, rc, "read task state");
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = col_state(st, 0, out) ? fail_msg(s, TL_EINVAL, "bad state") : 0;
    else if (rc == SQLITE_DONE)
        rc = TL_ENOTFOUND;
    else
        rc = fail(s, rc, "read task state");
    done_stmt(st);
    return rc;
}

static int sqlite_update_task(tl__store_t *base, const tl_task_t *t,
                              bool indexed, int was)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[indexed ? ST_UPDATE : ST_UPDATE_LIVE];
    tl_state_t old = (tl_state_t)was;
    bool own;
    int rc = own_begin(s, &own);

    if (!rc && indexed && was < 0)
        rc = stored_state(s, t->id, &old);
    if (!rc && sqlite3_bind_int64(st, C_NODE + 1, t->id) != SQLITE_OK)
        rc = fail(s, sqlite3_errcode(s->db), "update task");
    rc = rc ? rc : write_task(s, st, t, false, "update task");
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = TL_ENOTFOUND;
    if (rc == TL_ENOTFOUND)
        snprintf(s->err, sizeof(s->err), "task %lld does not exist",
                 (long long)t->id);
    if (!rc && indexed && old != t->state) {
        add_count(s, old, -1);
        add_count(s, t->state, 1);
    }
    return own_end(s, own, rc);
}

static int sqlite_delete_task(tl__store_t *base, int64_t id)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_DELETE];
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = run(s, st, "delete task");
    if (rc)
        return rc;
    if (sqlite3_changes(s->db) == 0) {
        snprintf(s->err, sizeof(s->err), "task %lld does not exist",
                 (long long)id);
        return TL_ENOTFOUND;
    }
    return 0;
}

static int sqlite_load_task(tl__store_t *base, int64_t id, tl_task_t **out)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_LOAD];
    char what[64];

    snprintf(what, sizeof(what), "task %lld does not exist", (long long)id);
    sqlite3_bind_int64(st, 1, id);
    return read_one(s, st, what, out);
}

static int sqlite_find_key(tl__store_t *base, const char *key, tl_task_t **out)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_FIND_KEY];

    if (!key)
        return fail_msg(s, TL_ENOTFOUND, "no task has this key");
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        done_stmt(st);
        return fail(s, sqlite3_errcode(s->db), "find key");
    }
    return read_one(s, st, "no task has this key", out);
}

/* Collects every active task before calling cb, so cb may write to the
 * store without disturbing a running SELECT. */
static int sqlite_load_active(tl__store_t *base, tl__store_task_cb cb, void *ud)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct task_vec a = {0};
    size_t i = 0;
    int more;
    int rc;

    rc = read_rows(s, s->st[ST_ACTIVE], 0, &a, &more, "load active tasks");
    if (rc)
        goto out;
    while (i < a.n && !rc) {
        tl_task_t *t = a.v[i++];
        rc = cb(t, ud);
    }
out:
    vec_free(&a, i);
    return rc;
}

/* The list statement for a filter mask, built from constant fragments
 * (values are always bound) and prepared on first use. */
static int list_stmt(struct sqlite_store *s, unsigned mask, sqlite3_stmt **out)
{
    char sql[2048];
    size_t len = 0;
    const char *sep = " WHERE ";
    int rc;
    /* With a state, the (state, id) index is the one to walk: unary +
     * keeps the planner off the kind and group indexes. */
    const char *kind = mask & F_STATE ? "+kind = :kind" : "kind = :kind";
    const char *grp = mask & F_STATE ? "+grp = :grp" : "grp = :grp";
    const char *parts[] = {
        mask & F_STATE ? "state = :state" : NULL,
        mask & F_KIND ? kind : NULL,
        mask & F_GROUP ? grp : NULL,
        mask & F_TEXT ? "(instr(title, :text) > 0 OR instr(argv, :text) > 0"
                        " OR instr(message, :text) > 0)"
                      : NULL,
        mask & F_CURSOR ? "id < :cursor" : NULL,
    };

    if (s->list[mask]) {
        *out = s->list[mask];
        return 0;
    }
    len += snprintf(sql + len, sizeof(sql) - len, "SELECT %s FROM tasks",
                    TASK_COLS);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (!parts[i])
            continue;
        len += snprintf(sql + len, sizeof(sql) - len, "%s%s", sep, parts[i]);
        sep = " AND ";
    }
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY id DESC LIMIT :limit");
    rc = prepare(s, sql, &s->list[mask]);
    *out = s->list[mask];
    return rc;
}

static int bind_named_str(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : SQLITE_OK;
}

static int bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    return i ? sqlite3_bind_int64(st, i, v) : SQLITE_OK;
}

static int bind_filter(sqlite3_stmt *st, const tl__store_filter_t *f, int limit)
{
    int rc = 0;
    if (f->state >= 0)
        rc |= bind_named_str(st, ":state", tl_state_name(f->state));
    rc |= bind_named_str(st, ":kind", f->kind);
    rc |= bind_named_str(st, ":grp", f->group);
    rc |= bind_named_str(st, ":text", f->text);
    rc |= bind_named_int(st, ":cursor", f->cursor);
    rc |= bind_named_int(st, ":limit", (int64_t)limit + 1);
    return rc;
}

static unsigned filter_mask(const tl__store_filter_t *f)
{
    return (f->state >= 0 ? F_STATE : 0) | (f->kind ? F_KIND : 0) |
           (f->group ? F_GROUP : 0) | (f->text ? F_TEXT : 0) |
           (f->cursor > 0 ? F_CURSOR : 0);
}

static int sqlite_list_tasks(tl__store_t *base, const tl__store_filter_t *f,
                             tl_task_t ***out, size_t *n, int64_t *next_cursor)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct task_vec a = {0};
    int limit = f->limit > 0 ? f->limit : 1;
    sqlite3_stmt *st;
    int more = 0;
    int rc;

    if (f->state >= TL_STATE__COUNT)
        return fail_msg(s, TL_EINVAL, "list tasks: invalid state");
    rc = list_stmt(s, filter_mask(f), &st);
    if (rc)
        return rc;
    if (bind_filter(st, f, limit) != SQLITE_OK) {
        rc = fail(s, sqlite3_errcode(s->db), "list tasks");
        done_stmt(st);
        goto out;
    }
    rc = read_rows(s, st, (size_t)limit, &a, &more, "list tasks");
    if (rc)
        goto out;
    if (!a.v && !(a.v = malloc(sizeof(*a.v)))) {
        rc = fail_msg(s, TL_ENOMEM, "list tasks: out of memory");
        goto out;
    }
    *out = a.v;
    *n = a.n;
    *next_cursor = more ? a.v[a.n - 1]->id : 0;
    return 0;
out:
    vec_free(&a, 0);
    return rc;
}

static int sqlite_count_states(tl__store_t *base,
                               int64_t counts[TL_STATE__COUNT])
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_COUNTS];
    tl_state_t state;
    int rc;

    /* The open transaction's changes count before its commit too. */
    memcpy(counts, s->count_delta, sizeof(int64_t) * TL_STATE__COUNT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (col_state(st, 0, &state) == 0)
            counts[state] += sqlite3_column_int64(st, 1);
    }
    rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "count tasks");
    done_stmt(st);
    return rc;
}

static int sqlite_claim_task(tl__store_t *base, int64_t id, const char *node,
                             int64_t started_at)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_CLAIM];
    int rc;

    rc = bind_str(st, 1, node) | sqlite3_bind_int64(st, 2, started_at) |
         sqlite3_bind_int64(st, 3, id);
    if (rc) {
        done_stmt(st);
        return fail(s, sqlite3_errcode(s->db), "claim task");
    }
    bool own;
    rc = own_begin(s, &own);
    rc = rc ? rc : run(s, st, "claim task");
    if (!rc && sqlite3_changes(s->db) == 0) {
        snprintf(s->err, sizeof(s->err), "task %lld is no longer queued",
                 (long long)id);
        rc = TL_ECONFLICT;
    }
    if (!rc) {
        add_count(s, TL_STATE_QUEUED, -1);
        add_count(s, TL_STATE_RUNNING, 1);
    }
    return own_end(s, own, rc);
}

/* ---- groups ------------------------------------------------------------ */

static int sqlite_set_group(tl__store_t *base, const char *group, int parallel)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_SET_GROUP];

    if (!group)
        return fail_msg(s, TL_EINVAL, "set group: no group name");
    if ((bind_str(st, 1, group) | sqlite3_bind_int(st, 2, parallel)) != 0) {
        done_stmt(st);
        return fail(s, sqlite3_errcode(s->db), "set group");
    }
    return run(s, st, "set group");
}

struct group_limit {
    char *name;
    int parallel;
};

static void groups_free(struct group_limit *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].name);
    free(g);
}

static int read_groups(struct sqlite_store *s, struct group_limit **out,
                       size_t *n)
{
    sqlite3_stmt *st = s->st[ST_GROUPS];
    struct group_limit *g = NULL;
    size_t len = 0, cap = 0;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t c = cap ? cap * 2 : 8;
            struct group_limit *ng = realloc(g, c * sizeof(*g));
            if (!ng)
                break;
            g = ng;
            cap = c;
        }
        g[len].name = NULL;
        if (col_str(st, 0, &g[len].name) || !g[len].name)
            break;
        g[len++].parallel = sqlite3_column_int(st, 1);
    }
    if (rc == SQLITE_ROW)
        rc = fail_msg(s, TL_ENOMEM, "load groups: out of memory");
    else
        rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "load groups");
    done_stmt(st);
    if (rc) {
        groups_free(g, len);
        return rc;
    }
    *out = g;
    *n = len;
    return 0;
}

static int sqlite_load_groups(tl__store_t *base,
                              void (*cb)(const char *group, int parallel,
                                         void *ud),
                              void *ud)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    struct group_limit *g = NULL;
    size_t n = 0;
    int rc;

    rc = read_groups(s, &g, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        cb(g[i].name, g[i].parallel, ud);
    groups_free(g, n);
    return 0;
}

/* ---- retention --------------------------------------------------------- */

static int read_ids(struct sqlite_store *s, int64_t before, int64_t **ids,
                    size_t *n)
{
    sqlite3_stmt *st = s->st[ST_FINISHED_IDS];
    int64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    sqlite3_bind_int64(st, 1, before);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t c = cap ? cap * 2 : 64;
            int64_t *nv = realloc(v, c * sizeof(*v));
            if (!nv)
                break;
            v = nv;
            cap = c;
        }
        v[len++] = sqlite3_column_int64(st, 0);
    }
    if (rc == SQLITE_ROW)
        rc = fail_msg(s, TL_ENOMEM, "delete finished: out of memory");
    else
        rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "delete finished");
    done_stmt(st);
    if (!rc && !v && !(v = malloc(sizeof(*v))))
        rc = fail_msg(s, TL_ENOMEM, "delete finished: out of memory");
    if (rc) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = len;
    return 0;
}

/* Reads the ids and deletes the same rows inside one savepoint, so the
 * ids returned are exactly the rows removed, in or out of a transaction. */
static int sqlite_delete_finished(tl__store_t *base, int64_t before,
                                  int64_t **ids, size_t *n)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *del = s->st[ST_DELETE_FINISHED];
    int64_t *v = NULL;
    size_t len = 0;
    int rc;

    rc = run(s, s->st[ST_SAVEPOINT], "delete finished");
    if (rc)
        return rc;
    rc = read_ids(s, before, &v, &len);
    if (rc)
        goto out;
    sqlite3_bind_int64(del, 1, before);
    rc = run(s, del, "delete finished");
    if (rc)
        goto out;
    rc = run(s, s->st[ST_RELEASE], "delete finished");
out:
    if (rc) {
        free(v);
        /* Either may fail if SQLite already rolled back: nothing to do. */
        sqlite3_step(s->st[ST_ROLLBACK_TO]);
        done_stmt(s->st[ST_ROLLBACK_TO]);
        sqlite3_step(s->st[ST_RELEASE]);
        done_stmt(s->st[ST_RELEASE]);
        return rc;
    }
    *ids = v;
    *n = len;
    return 0;
}

/* ---- history ------------------------------------------------------------ */

static int sqlite_recent_durations(tl__store_t *base, const char *kind,
                                   size_t max, double *out, size_t *n)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st = s->st[ST_DURATIONS];
    int rc = sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    rc = rc ? rc : sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    *n = 0;
    while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        out[(*n)++] = sqlite3_column_int64(st, 0) / 1000.0;
        rc = 0;
    }
    if (rc == SQLITE_DONE)
        rc = 0;
    int err = rc ? fail(s, rc, "reading durations") : 0;
    done_stmt(st);
    return err;
}

/* ---- API tokens -------------------------------------------------------- */

/* Rare operations: prepared when used. */
static int token_stmt(struct sqlite_store *s, const char *sql,
                      sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc ? fail(s, rc, "tokens") : 0;
}

static int sqlite_load_tokens(tl__store_t *base,
                              void (*cb)(const char *name, const char *secret,
                                         const char *role, int64_t created,
                                         void *ud),
                              void *ud)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = token_stmt(
        s, "SELECT name, secret, role, created_at FROM tokens ORDER BY name",
        &st);
    while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb((const char *)sqlite3_column_text(st, 0),
           (const char *)sqlite3_column_text(st, 1),
           (const char *)sqlite3_column_text(st, 2),
           sqlite3_column_int64(st, 3), ud);
        rc = 0;
    }
    int err = rc == SQLITE_DONE || rc == 0 ? 0 : fail(s, rc, "load tokens");
    sqlite3_finalize(st);
    return err;
}

static int sqlite_put_token(tl__store_t *base, const char *name,
                            const char *secret, const char *role,
                            int64_t created)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = token_stmt(s,
                        "INSERT INTO tokens (name, secret, role, created_at)"
                        " VALUES (?1, ?2, ?3, ?4)",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, secret, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, created);
    rc = sqlite3_step(st);
    int err = rc == SQLITE_DONE ? 0
              : (rc & 0xff) == SQLITE_CONSTRAINT
                  ? fail_msg(s, TL_ECONFLICT, "that token name is taken")
                  : fail(s, rc, "add token");
    sqlite3_finalize(st);
    return err;
}

static int sqlite_delete_token(tl__store_t *base, const char *name)
{
    struct sqlite_store *s = (struct sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = token_stmt(s, "DELETE FROM tokens WHERE name = ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int err = rc != SQLITE_DONE ? fail(s, rc, "remove token")
              : sqlite3_changes(s->db) == 0
                  ? fail_msg(s, TL_ENOTFOUND, "no such token")
                  : 0;
    sqlite3_finalize(st);
    return err;
}

const tl__store_ops_t tl__store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .errmsg = sqlite_errmsg,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .insert_task = sqlite_insert_task,
    .update_task = sqlite_update_task,
    .delete_task = sqlite_delete_task,
    .load_task = sqlite_load_task,
    .find_key = sqlite_find_key,
    .load_active = sqlite_load_active,
    .list_tasks = sqlite_list_tasks,
    .count_states = sqlite_count_states,
    .claim_task = sqlite_claim_task,
    .exclusive = true,
    .set_group = sqlite_set_group,
    .load_groups = sqlite_load_groups,
    .delete_finished = sqlite_delete_finished,
    .recent_durations = sqlite_recent_durations,
    .load_tokens = sqlite_load_tokens,
    .put_token = sqlite_put_token,
    .delete_token = sqlite_delete_token,
};
