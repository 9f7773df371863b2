-- Wait sampling: wait events of active sessions attributed to named queries (issue 15).
SELECT 1;
