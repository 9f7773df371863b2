-- Plans over time: a fingerprint of each named query's plan shape, plan changes (issue 15).
SELECT 1;
