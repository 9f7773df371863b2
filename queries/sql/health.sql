-- name: health.ping --
-- timeout: 2s
SELECT 1 AS ok
