-- A held instrument's late bars (skipped: the account had stepped past them) restate the
-- equity rows of their bar times: each row marked the instrument at the last close known
-- then, its own close is known now. Cash is untouched: nothing traded at those bars.
UPDATE trading.equity AS e
SET position_value = e.position_value + d.delta, equity = e.equity + d.delta
FROM (SELECT ts, sum(delta) AS delta FROM late_marks GROUP BY ts) AS d
WHERE e.account = $1 AND e.ts = d.ts
