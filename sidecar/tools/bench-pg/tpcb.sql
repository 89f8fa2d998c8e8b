-- tpcb.sql: the TPC-B-like function of make bench-pg, given identically to
-- every server of the three systems measured (zyzzyva's four replicas, the
-- unreplicated server, the synchronous-replication primary), after
-- `pgbench -i`.
--
-- It does what pgbench's built-in TPC-B-like script does, as one function
-- call: three UPDATEs (accounts, tellers, branches) and one INSERT into
-- history, and returns the account's new balance.
--
-- Two differences from pgbench's own tables, made on all three systems so
-- that they do the same work:
--  * pgbench_history gets a primary key, hid: a replicated table needs one
--    (undo and state transfer find rows by key), and sequences are refused
--    in replicated execution, so the client draws hid at random (pgbench's
--    random() over 1 .. 2^62: a collision within a run is improbable, about
--    n^2 / 2^63 for n rows).
--  * mtime is a constant: now() is refused in replicated execution (a
--    replicated function would use zyzzyva.now(), which the baselines lack).

ALTER TABLE pgbench_history ADD COLUMN hid bigint;
ALTER TABLE pgbench_history ALTER COLUMN hid SET NOT NULL;
ALTER TABLE pgbench_history ADD PRIMARY KEY (hid);

CREATE FUNCTION tpcb(p_aid integer, p_bid integer, p_tid integer, p_delta integer, p_hid bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    bal integer;
BEGIN
    UPDATE pgbench_accounts SET abalance = abalance + p_delta WHERE aid = p_aid
        RETURNING abalance INTO bal;
    UPDATE pgbench_tellers SET tbalance = tbalance + p_delta WHERE tid = p_tid;
    UPDATE pgbench_branches SET bbalance = bbalance + p_delta WHERE bid = p_bid;
    INSERT INTO pgbench_history (hid, tid, bid, aid, delta, mtime)
        VALUES (p_hid, p_tid, p_bid, p_aid, p_delta, '2026-01-01');
    RETURN bal;
END
$$;
