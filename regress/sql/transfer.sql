--
-- transfer: state transfer.  snapshot(seq) gives the rows of every
-- replicated table as of an applied batch, in canonical bytes;
-- install_snapshot() installs such bytes after checking them against the
-- checkpoint's state digest.  Also the condition the sidecar reports and
-- the digest check view.
--
\pset null '(null)'
\getenv abs_srcdir PG_ABS_SRCDIR
\set xfer_setup :abs_srcdir '/sql/transfer_setup.psql'
CREATE DATABASE zz_xfer_a TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE zz_xfer_b TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';

\c zz_xfer_a
\set QUIET on
\i :xfer_setup
\set QUIET off

-- the empty state: both tables, no rows, exactly these bytes
SELECT encode(zyzzyva.snapshot(0), 'hex') AS snap_0_hex;
SELECT zyzzyva.snapshot(0) = make_snap(0, ARRAY['public."Odd Name"', 'public.acct', 'zyzzyva.ddl_proposal',
                                                 'zyzzyva.sequence_state'],
                                       ARRAY[[NULL], [NULL], [NULL], [NULL]]::text[][])
    AS same_as_hand_made;
SELECT zyzzyva.snapshot(0) AS snap_0 \gset
SELECT zyzzyva.state_digest() AS digest_0 \gset

-- apply batches 1..4, taking a snapshot and the digest after each, as a
-- peer would at a checkpoint (in a REPEATABLE READ transaction)
SELECT apply(1);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT zyzzyva.snapshot(1) AS snap_1, zyzzyva.state_digest() AS digest_1 \gset
-- read-only: no transaction id, only reader locks
SELECT pg_current_xact_id_if_assigned() IS NULL AS no_xid,
       (SELECT array_agg(DISTINCT mode) FROM pg_locks
         WHERE pid = pg_backend_pid() AND locktype = 'relation') AS lock_modes;
COMMIT;
SELECT apply(2);
SELECT zyzzyva.snapshot(2) AS snap_2, zyzzyva.state_digest() AS digest_2 \gset
SELECT apply(3);
SELECT zyzzyva.snapshot(3) AS snap_3, zyzzyva.state_digest() AS digest_3 \gset
SELECT apply(4);
SELECT zyzzyva.snapshot(4) AS snap_4, zyzzyva.state_digest() AS digest_4 \gset

-- what a snapshot holds: rows in canonical text, sorted, tables by name
SELECT * FROM read_snap(:'snap_2');
SELECT * FROM read_snap(:'snap_4');
SELECT array_agg(a::text ORDER BY a::text COLLATE "C") AS acct_now FROM acct a;

-- taken now, the snapshot of an older batch is the one taken back then,
-- through updates, deletes, cascades and re-inserts of the same keys
SELECT zyzzyva.snapshot(0) = :'snap_0' AS same_0, zyzzyva.snapshot(1) = :'snap_1' AS same_1,
       zyzzyva.snapshot(2) = :'snap_2' AS same_2, zyzzyva.snapshot(3) = :'snap_3' AS same_3,
       zyzzyva.snapshot(4) = :'snap_4' AS same_4;
SELECT :'snap_1' <> :'snap_2' AND :'snap_2' <> :'snap_3' AND :'snap_3' <> :'snap_4' AS all_differ;

-- only between the stable checkpoint and the last applied batch
SELECT try('SELECT zyzzyva.snapshot(5)');
SELECT try('SELECT zyzzyva.snapshot(-1)');
SELECT zyzzyva.snapshot(NULL);
SELECT zyzzyva.mark_stable(2, :'digest_2');
SELECT try('SELECT zyzzyva.snapshot(1)');
SELECT zyzzyva.snapshot(2) = :'snap_2' AS same_2, zyzzyva.snapshot(3) = :'snap_3' AS same_3;

-- undo that does not match the rows is reported, not turned into a wrong
-- snapshot
UPDATE zyzzyva.undo_log SET new_row = replace(new_row, 'dave', 'mallory')
 WHERE seq = 3 AND new_row LIKE '%dave%';
SELECT try('SELECT zyzzyva.snapshot(2)');
UPDATE zyzzyva.undo_log SET new_row = replace(new_row, 'mallory', 'dave')
 WHERE seq = 3 AND new_row LIKE '%mallory%';
SELECT zyzzyva.snapshot(2) = :'snap_2' AS same_2;

-- install into a second database with the same schema, at batch 2
\c zz_xfer_b
\set QUIET on
\i :xfer_setup
\set QUIET off
SELECT apply(1);          -- some state of its own, replaced by the install
SELECT zyzzyva.install_snapshot(2, h(2), :'digest_2', :'snap_2') AS rows_installed;
SELECT zyzzyva.state_digest() = :'digest_2' AS digest_ok, zyzzyva.verify_digest(),
       zyzzyva.snapshot(2) = :'snap_2' AS same_snapshot;
SELECT * FROM acct ORDER BY id;
SELECT * FROM "Odd Name" ORDER BY k;
SELECT last_applied_seq, stable_seq, last_history = h(2) AS last_history_ok,
       stable_history = h(2) AS stable_history_ok, stable_digest = :'digest_2' AS stable_digest_ok,
       logged_batches, undo_records, transfers_installed, last_transfer_seq,
       last_transfer_at IS NOT NULL AS transfer_time_set
  FROM zyzzyva.status;
-- and the order goes on from there: batches 3 and 4 give the same state
SELECT apply(3), apply(4);
SELECT zyzzyva.state_digest() = :'digest_4' AS same_digest_4, zyzzyva.snapshot(4) = :'snap_4' AS same_snapshot_4,
       zyzzyva.snapshot(3) = :'snap_3' AS same_snapshot_3;

-- refusals, each leaving everything as it was
SELECT zyzzyva.state_digest() AS digest_b \gset
-- a wrong digest
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_3', :'snap_4'));
-- rows changed in transit: well formed, but not the agreed state
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  decode(replace(encode(:'snap_4', 'hex'), encode('erin', 'hex'), encode('evil', 'hex')), 'hex')));
-- malformed bytes
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', substr(:'snap_4'::bytea, 1, length(:'snap_4'::bytea) - 1)));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', :'snap_4'::bytea || '\x00'::bytea));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', overlay(:'snap_4'::bytea placing '\x58' from 1)));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', overlay(:'snap_4'::bytea placing '\x0003' from 7)));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', substr(:'snap_4'::bytea, 1, 10)));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4', ''::bytea));
-- rows out of order, a repeated table, a zero byte, invalid UTF-8
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  make_snap(4, ARRAY['public.acct'], ARRAY[['(2,b,1)', '(1,a,1)']])));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  make_snap(4, ARRAY['public.acct', 'public.acct'], ARRAY[[NULL], [NULL]]::text[][])));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  overlay(make_snap(4, ARRAY['public.acct'], ARRAY[['(1,a,1)']]) placing '\x00' from 49)));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  overlay(make_snap(4, ARRAY['public.acct'], ARRAY[['(1,a,1)']]) placing '\xff' from 49)));
-- a table not replicated here (it exists, unreplicated), or not at all
CREATE TABLE local_only (id integer PRIMARY KEY);
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  make_snap(4, ARRAY['public.acct', 'public.local_only'], ARRAY[[NULL], [NULL]]::text[][])));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', :'digest_4',
                  make_snap(4, ARRAY['public.nosuch'], ARRAY[[NULL]]::text[][])));
-- the snapshot of another batch, a bad history or digest, NULLs, a seq
-- below the stable checkpoint
SELECT try(format('SELECT zyzzyva.install_snapshot(3, h(3), %L, %L)', :'digest_4', :'snap_4'));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, %L, %L, %L)', '\x01', :'digest_4', :'snap_4'));
SELECT try(format('SELECT zyzzyva.install_snapshot(4, h(4), %L, %L)', '\x01', :'snap_4'));
SELECT try('SELECT zyzzyva.install_snapshot(4, h(4), NULL, ''\x00'')');
SELECT try(format('SELECT zyzzyva.install_snapshot(0, h(0), %L, %L)', :'digest_0', :'snap_0'));
SELECT try(format('SELECT zyzzyva.install_snapshot(1, h(1), %L, %L)', :'digest_1', :'snap_1'));
-- nothing changed by any of them
SELECT last_applied_seq, stable_seq, transfers_installed, logged_batches, undo_records,
       state_digest = :'digest_b' AS digest_same FROM zyzzyva.status;
SELECT zyzzyva.verify_digest();

-- install over a state with undo and batches of its own: back to batch 2
-- in the database that applied 3 and 4 after it, with a proof kept
SELECT zyzzyva.install_snapshot(2, h(2), :'digest_2', :'snap_2', '\xcafe') AS rows_installed;
SELECT zyzzyva.state_digest() = :'digest_2' AS digest_ok, zyzzyva.verify_digest(),
       zyzzyva.snapshot(2) = :'snap_2' AS same_snapshot;
SELECT last_applied_seq, stable_seq, logged_batches, undo_records, transfers_installed,
       last_transfer_seq, (SELECT stable_proof FROM zyzzyva.replica_state) FROM zyzzyva.status;
-- an empty snapshot empties every replicated table
SELECT try(format('SELECT zyzzyva.install_snapshot(2, h(2), %L, %L)', :'digest_0', :'snap_0'));
SELECT zyzzyva.install_snapshot(2, h(2), :'digest_0', overlay(:'snap_0' placing int8send(2) from 9));
SELECT (SELECT count(*) FROM acct) AS accts, (SELECT count(*) FROM "Odd Name") AS odd,
       zyzzyva.state_digest() = :'digest_0' AS digest_ok, zyzzyva.verify_digest();

-- the condition the sidecar reports; condition_since moves only when the
-- condition changes
SELECT condition, condition_detail, condition_since IS NOT NULL AS since_set FROM zyzzyva.status;
SELECT zyzzyva.set_condition('state_transfer', 'from replica 2 at batch 8');
SELECT condition, condition_detail FROM zyzzyva.status;
SELECT condition_since AS since_1 FROM zyzzyva.status \gset
SELECT zyzzyva.set_condition('state_transfer', 'from replica 3 at batch 8');
SELECT condition, condition_detail, condition_since = :'since_1' AS since_same FROM zyzzyva.status;
SELECT zyzzyva.set_condition('normal');
SELECT condition, condition_detail, condition_since > :'since_1' AS since_moved FROM zyzzyva.status;
SELECT try('SELECT zyzzyva.set_condition(''confused'')');
SELECT try('SELECT zyzzyva.set_condition(NULL)');
SELECT try('UPDATE zyzzyva.replica_state SET condition = ''confused''');
SELECT condition FROM zyzzyva.status;

-- the digest check: true, and false once rows change behind the extension
SELECT digest_ok FROM zyzzyva.digest_check;
SELECT apply(3);
SET zyzzyva.repair_mode = on;
ALTER TABLE acct DISABLE TRIGGER zyzzyva_guard, DISABLE TRIGGER zyzzyva_capture;
UPDATE acct SET bal = bal + 1 WHERE id = 3;
ALTER TABLE acct ENABLE ALWAYS TRIGGER zyzzyva_guard, ENABLE ALWAYS TRIGGER zyzzyva_capture;
RESET zyzzyva.repair_mode;
SELECT digest_ok FROM zyzzyva.digest_check;

-- privileges: the daemon's functions are not for PUBLIC nor for monitoring; status is
CREATE ROLE zz_reader IN ROLE zyzzyva_monitor;
SET ROLE zz_reader;
SELECT try('SELECT zyzzyva.snapshot(3)');
SELECT try(format('SELECT zyzzyva.install_snapshot(2, h(2), %L, %L)', :'digest_2', :'snap_2'));
SELECT try('SELECT zyzzyva.set_condition(''diverged'')');
SELECT try('SELECT * FROM zyzzyva.digest_check');
SELECT condition, transfers_installed FROM zyzzyva.status;
RESET ROLE;
DROP ROLE zz_reader;

\c contrib_regression
DROP DATABASE zz_xfer_a;
DROP DATABASE zz_xfer_b;
