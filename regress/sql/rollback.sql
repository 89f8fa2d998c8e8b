--
-- rollback: undoing a speculative suffix, stable checkpoints, commit
-- certificates.
--
\pset null '(null)'

-- the state after batch 5, kept in plain tables to compare with later
CREATE TABLE accounts_at_5 AS SELECT * FROM accounts;
CREATE TABLE ledger_at_5 AS SELECT * FROM ledger;
SELECT zyzzyva.state_digest() AS digest_5 \gset
CREATE FUNCTION same_as_at_5() RETURNS TABLE (accounts_same boolean, ledger_same boolean)
LANGUAGE sql AS $$
    SELECT (SELECT array_agg(a::text ORDER BY a.id) FROM accounts a) IS NOT DISTINCT FROM
           (SELECT array_agg(a::text ORDER BY a.id) FROM accounts_at_5 a),
           (SELECT array_agg(l::text ORDER BY l.id) FROM ledger l) IS NOT DISTINCT FROM
           (SELECT array_agg(l::text ORDER BY l.id) FROM ledger_at_5 l)
$$;
SELECT * FROM same_as_at_5();

-- batches 6 and 7 change rows every way: updates (through a user
-- trigger), inserts, a primary key change and a delete, both cascading
-- to the ledger through foreign keys
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(6, 1, h(6), 1700000005000000, 47, zyzzyva.encode_batch(ARRAY[
    call('public.transfer(integer,integer,numeric)', '2', '3', '7'),
    call('public.renumber(integer,integer)', '3', '30'),
    call('public.open_account(integer,pg_catalog.text)', '40', 'frank')]));
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(7, 1, h(7), 1700000006000000, 48, zyzzyva.encode_batch(ARRAY[
    call('public.close_account(integer)', '1'),
    call('public.transfer(integer,integer,numeric)', '2', '30', '1')]));
SELECT id, owner, balance, updated_at FROM accounts ORDER BY id;
SELECT * FROM ledger ORDER BY id;
SELECT seq, ord, request, rel::regclass, old_row, new_row
  FROM zyzzyva.undo_log WHERE seq >= 6 ORDER BY seq, ord;
SELECT zyzzyva.state_digest() <> :'digest_5' AS digest_moved, zyzzyva.verify_digest();

-- roll back to 5: every row as it was (user triggers did not fire: the
-- updated_at columns are the old ones), the digest as it was, and the
-- position, batches and undo of 6 and 7 gone
SELECT zyzzyva.rollback_to(5);
SELECT * FROM same_as_at_5();
SELECT zyzzyva.state_digest() = :'digest_5' AS digest_restored, zyzzyva.verify_digest();
SELECT last_applied_seq, last_applied_view, last_history = h(5) AS history_ok,
       logged_batches, undo_records FROM zyzzyva.status;

-- the order continues at 6, now from a new view
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(6, 2, h(60), 1700000007000000, 49, zyzzyva.encode_batch(ARRAY[
    call('public.transfer(integer,integer,numeric)', '1', '2', '1')]));

-- a rollback takes the view of the position back with it: with batch 6
-- of view 2 undone, batch 6 may come again from view 1, the view of batch
-- 5 (a cluster that restarted at its checkpoint does just that); then
-- from view 2 again, as before
SELECT zyzzyva.rollback_to(5);
SELECT last_applied_seq, last_applied_view FROM zyzzyva.status;
SELECT count(*) FROM zyzzyva.apply_batch(6, 1, h(61), 1700000007000000, 49, zyzzyva.encode_batch(ARRAY[
    call('public.transfer(integer,integer,numeric)', '1', '2', '1')]));
SELECT zyzzyva.rollback_to(5);
SELECT count(*) FROM zyzzyva.apply_batch(6, 2, h(60), 1700000007000000, 49, zyzzyva.encode_batch(ARRAY[
    call('public.transfer(integer,integer,numeric)', '1', '2', '1')]));
SELECT last_applied_seq, last_applied_view FROM zyzzyva.status;
SELECT zyzzyva.rollback_to(6);
SELECT zyzzyva.rollback_to(7);

-- a stable checkpoint: undo at or below it is deleted, and so are the
-- batches below it; rolling back below it is refused
SELECT zyzzyva.mark_stable(3, '\xaa', '\xbb') AS undo_deleted;
SELECT DISTINCT seq FROM zyzzyva.undo_log ORDER BY seq;
SELECT seq FROM zyzzyva.batch_log ORDER BY seq;
SELECT stable_seq, stable_history = h(3) AS history_ok, stable_digest,
       (SELECT stable_proof FROM zyzzyva.replica_state) FROM zyzzyva.status;
SELECT zyzzyva.rollback_to(2);
SELECT zyzzyva.mark_stable(2);
SELECT zyzzyva.mark_stable(99);
SELECT zyzzyva.mark_stable(NULL);
SELECT zyzzyva.mark_stable(6) AS undo_deleted;
SELECT stable_seq, stable_history = h(60) AS history_ok, stable_digest,
       logged_batches, undo_records FROM zyzzyva.status;
SELECT zyzzyva.rollback_to(5);
SELECT zyzzyva.rollback_to(6);

-- the highest commit certificate is kept, never lowered
SELECT zyzzyva.record_commit(5, '\x01');
SELECT zyzzyva.record_commit(4, '\x02');
SELECT zyzzyva.record_commit(6, '\x03');
SELECT zyzzyva.record_commit(9, '\x04');
SELECT zyzzyva.record_commit(7, NULL);
SELECT max_cc_seq, (SELECT max_cc FROM zyzzyva.replica_state) FROM zyzzyva.status;

-- undo that no longer matches the table is refused, not applied blindly:
-- the rollback fails as a whole and changes nothing
SELECT request, sqlstate FROM zyzzyva.apply_batch(7, 2, h(7), 1700000008000000, 50,
    zyzzyva.encode_batch(ARRAY[call('public.open_account(integer,pg_catalog.text)', '50', 'grace')]));
SELECT zyzzyva.state_digest() AS digest_7 \gset
UPDATE zyzzyva.undo_log SET new_row = '(51,grace,0,)' WHERE seq = 7;
SELECT zyzzyva.rollback_to(6);
SELECT last_applied_seq, (SELECT count(*) FROM accounts WHERE id = 50) AS grace,
       state_digest = :'digest_7' AS digest_same FROM zyzzyva.status;
UPDATE zyzzyva.undo_log SET new_row = '(50,grace,0,)' WHERE seq = 7;
SELECT zyzzyva.rollback_to(6);
SELECT last_applied_seq, (SELECT count(*) FROM accounts WHERE id = 50) AS grace,
       zyzzyva.verify_digest() FROM zyzzyva.status;
