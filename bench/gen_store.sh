#!/usr/bin/env bash
# gen_store.sh DB COUNT -- adds COUNT finished command tasks to a stopped
# daemon's database in one transaction, with the sqlite3 CLI. Rows match the
# tasks table of src/lib/store_sqlite.c; task_counts is counted again
# after (the daemon keeps it by its own writes). One in 50 failed, the rest completed; every task ran
# `true` for 2 ms, newest last.
set -euo pipefail
db=$1 count=$2
[[ -f $db ]] || { echo "gen_store: no database $db (start and stop a daemon on it first)" >&2; exit 1; }
now_ms=$(($(date +%s) * 1000))
sqlite3 "$db" <<SQL
PRAGMA busy_timeout = 10000;
BEGIN IMMEDIATE;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $count)
INSERT INTO tasks (kind, title, grp, owner, state, source, priority,
                   metadata, substeps, exit_code, error, attempt, argv, cwd,
                   created_at, started_at, finished_at, updated_at)
SELECT 'command', 'true', 'default', 'bench',
       CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'completed' END,
       'command', 0, '{}', '[]',
       CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 50 = 0 THEN 'exited with code 1' END,
       1, '["true"]', '/tmp',
       $now_ms - ($count - i) * 10, $now_ms - ($count - i) * 10,
       $now_ms - ($count - i) * 10 + 2, $now_ms - ($count - i) * 10 + 2
FROM seq;
UPDATE task_counts SET n = (SELECT count(*) FROM tasks WHERE tasks.state = task_counts.state);
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
