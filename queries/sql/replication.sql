-- Streaming replication (docs/scaling.md, "Read replica"): the read server's lag as it sees it, and the
-- primary's view of its standbys and replication slots (Jobs & health).

-- On the read server: how far its replay is behind what it received, and the commit time of the last
-- transaction it replayed. When everything received is replayed the replica is as current as the stream
-- (lag 0), however long ago the primary's last commit was. `in_recovery` false: not a standby at all.
-- name: replication.lag --
-- timeout: 3s
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS replay_behind_bytes,
       pg_last_xact_replay_timestamp() AS replayed_commit_at,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
            ELSE greatest(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0.0)::float8
       END AS lag_seconds,
       clock_timestamp() AS checked_at

-- On the primary: each connected standby (WAL sender). The positions and lags are NULL for a role without
-- pg_read_all_stats (pg_monitor): `visible` says which.
-- name: replication.standbys --
-- timeout: 5s
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       sent_lsn::text AS sent_lsn, replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_behind_bytes,
       extract(epoch FROM write_lag)::float8 AS write_lag_s,
       extract(epoch FROM flush_lag)::float8 AS flush_lag_s,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_s,
       backend_start, reply_time,
       state IS NOT NULL AS visible
FROM pg_stat_replication
ORDER BY application_name, backend_start

-- On the primary: replication slots and the WAL each one holds back (a slot whose standby is gone keeps WAL
-- until max_slot_wal_keep_size, then is invalidated: wal_status 'lost').
-- name: replication.slots --
-- timeout: 5s
SELECT slot_name, slot_type, database, active, wal_status,
       restart_lsn::text AS restart_lsn,
       CASE WHEN restart_lsn IS NOT NULL
            THEN pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes,
       safe_wal_size
FROM pg_replication_slots
ORDER BY slot_name

-- name: replication.in_recovery --
-- timeout: 3s
SELECT pg_is_in_recovery() AS in_recovery
