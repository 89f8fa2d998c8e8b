--
-- apply: executing ordered batches.  One transaction per batch, one
-- subtransaction per request: a request's ERROR is its reply, and the
-- other requests commit.
--
\pset null '(null)'

-- readable history digests for the tests: h(n) = SHA-256 of n's text
CREATE FUNCTION h(n bigint) RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT sha256(convert_to(n::text, 'UTF8')) $$;
CREATE FUNCTION call(signature text, VARIADIC args text[] DEFAULT '{}') RETURNS bytea
    IMMUTABLE LANGUAGE sql AS $$ SELECT zyzzyva.encode_call(signature, VARIADIC args) $$;

SELECT zyzzyva.state_digest() AS digest_0 \gset

-- batch 1: two transfers, one that breaks a CHECK constraint, one for a
-- missing account, an account opened and paid into, and a duplicate key
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(1, 0, h(1), 1700000000000000, 42, zyzzyva.encode_batch(ARRAY[
    call('public.transfer(integer,integer,numeric)', '1', '2', '10'),
    call('public.transfer(integer,integer,numeric)', '2', '1', '1000'),
    call('public.transfer(integer,integer,numeric)', '1', '9', '5'),
    call('public.open_account(integer,pg_catalog.text)', '3', 'carol'),
    call('public.transfer(integer,integer,numeric)', '1', '3', '5'),
    call('public.open_account(integer,pg_catalog.text)', '3', 'dave')]));
-- only the requests that succeeded changed anything
SELECT id, owner, balance, updated_at FROM accounts ORDER BY id;
SELECT * FROM ledger ORDER BY id;
-- the digest moved, and still equals a recomputation from every row
SELECT zyzzyva.state_digest() <> :'digest_0' AS digest_moved, zyzzyva.verify_digest();

-- what the database recorded: the batch, its replies, the position, undo
SELECT seq, view, history = h(1) AS history_ok, nd_time, nd_seed,
       requests = zyzzyva.encode_batch(ARRAY[
            call('public.transfer(integer,integer,numeric)', '1', '2', '10'),
            call('public.transfer(integer,integer,numeric)', '2', '1', '1000'),
            call('public.transfer(integer,integer,numeric)', '1', '9', '5'),
            call('public.open_account(integer,pg_catalog.text)', '3', 'carol'),
            call('public.transfer(integer,integer,numeric)', '1', '3', '5'),
            call('public.open_account(integer,pg_catalog.text)', '3', 'dave')]) AS requests_ok,
       substr(replies, 1, 4) AS reply_count
  FROM zyzzyva.batch_log;
SELECT last_applied_seq, last_applied_view, last_history = h(1) AS history_ok,
       undo_records FROM zyzzyva.status;
SELECT seq, ord, request, rel::regclass, old_row, new_row
  FROM zyzzyva.undo_log ORDER BY seq, ord;

-- batch 2: every kind of result, and requests that cannot run.  The reply
-- bytes say the same as the readable columns.
SELECT request, sqlstate, result, (zyzzyva.decode_reply(reply)).sqlstate AS reply_sqlstate,
       (zyzzyva.decode_reply(reply)).result IS NOT DISTINCT FROM result AS reply_same
  FROM zyzzyva.apply_batch(2, 0, h(2), 1700000001000000, 43, zyzzyva.encode_batch(ARRAY[
    call('public.account(integer)', '1'),                          -- a row
    call('public.account(integer)', '99'),                         -- a NULL row
    call('public.total(numeric[])', '{1.5,2.25,3}'),               -- VARIADIC
    call('public.echo(pg_catalog.text)', NULL),                    -- STRICT, NULL in
    call('public.echo(pg_catalog.text)', 'quote '' and "dq"'),
    call('public.fail_with(pg_catalog.text)', '22012'),            -- any SQLSTATE
    call('public.transfer(int4,int4,numeric)', '1', '2', '1'),     -- not the canonical spelling
    call('public.transfer(integer,integer)', '1', '2'),            -- no such signature
    call('public.sneaky()'),                                       -- exists, not replicated
    call('pg_catalog.pg_sleep(double precision)', '0'),            -- a system function
    call('public.transfer(integer,integer,numeric)', '1', '2'),    -- too few arguments
    call('public.transfer(integer,integer,numeric)', 'x', '2', '1'),
    '\x0000'::bytea]));                                            -- malformed call

-- requests may not manage the replica from inside
CREATE FUNCTION meddle(what text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    CASE what
    WHEN 'register' THEN PERFORM zyzzyva.replicate_table('nokey');
    WHEN 'apply' THEN PERFORM * FROM zyzzyva.apply_batch(99, 0, h(99), 0, 0, '\x00000000');
    WHEN 'rollback' THEN PERFORM zyzzyva.rollback_to(0);
    WHEN 'stable' THEN PERFORM zyzzyva.mark_stable(1);
    END CASE;
    RETURN 'done';
END $$;
SELECT zyzzyva.replicate_function('meddle(text)');
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(3, 0, h(3), 1700000002000000, 44, zyzzyva.encode_batch(ARRAY[
    call('public.meddle(pg_catalog.text)', 'register'),
    call('public.meddle(pg_catalog.text)', 'apply'),
    call('public.meddle(pg_catalog.text)', 'rollback'),
    call('public.meddle(pg_catalog.text)', 'stable')]));

-- an EXCEPTION block inside a request rolls back its inner changes: the
-- digest must forget them too
CREATE FUNCTION careful(acct integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM open_account(acct, 'kept');
    BEGIN
        PERFORM open_account(acct + 1, 'undone');
        PERFORM open_account(acct, 'duplicate');
    EXCEPTION WHEN unique_violation THEN
        RETURN 'caught';
    END;
    RETURN 'not caught';
END $$;
SELECT zyzzyva.replicate_function('careful(integer)');
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(4, 0, h(4), 1700000003000000, 45, zyzzyva.encode_batch(ARRAY[
    call('public.careful(integer)', '10')]));
SELECT id, owner FROM accounts WHERE id >= 10 ORDER BY id;
SELECT zyzzyva.verify_digest();
-- and the undo keeps only what survived: no record of the inner block's
-- changes (undo records wait in memory until the end of the batch)
SELECT ord, request, old_row, new_row FROM zyzzyva.undo_log WHERE seq = 4 ORDER BY ord;

-- an empty batch is a batch
SELECT count(*) FROM zyzzyva.apply_batch(5, 1, h(5), 1700000004000000, 46, '\x00000000');
SELECT last_applied_seq, last_applied_view FROM zyzzyva.status;

-- errors of the whole call: nothing is applied
SELECT * FROM zyzzyva.apply_batch(5, 1, h(5), 0, 0, '\x00000000');     -- again
SELECT * FROM zyzzyva.apply_batch(9, 1, h(9), 0, 0, '\x00000000');     -- a gap
SELECT * FROM zyzzyva.apply_batch(6, 0, h(6), 0, 0, '\x00000000');     -- an older view
SELECT * FROM zyzzyva.apply_batch(6, -1, h(6), 0, 0, '\x00000000');
SELECT * FROM zyzzyva.apply_batch(6, 1, '\x00', 0, 0, '\x00000000');   -- not a SHA-256
SELECT * FROM zyzzyva.apply_batch(6, 1, h(6), 0, 0, '\x000000');       -- malformed batch
SELECT * FROM zyzzyva.apply_batch(6, 1, h(6), 0, 0, NULL);
SELECT * FROM zyzzyva.apply_batch(NULL, 1, h(6), 0, 0, '\x00000000');
SELECT last_applied_seq FROM zyzzyva.status;

-- a request's own failure is its reply whatever its SQLSTATE, even one
-- that looks like a fact about this replica (serialization failure, disk
-- full, internal error, cancel): every replica runs the same function and
-- fails the same way, and a request that failed the batch would be
-- applied again for ever (docs/liveness.md)
BEGIN;
SELECT request, sqlstate, result FROM zyzzyva.apply_batch(6, 1, h(6), 0, 0, zyzzyva.encode_batch(ARRAY[
    call('public.open_account(integer,pg_catalog.text)', '20', 'erin'),
    call('public.fail_with(pg_catalog.text)', '40001'),
    call('public.fail_with(pg_catalog.text)', '53100'),
    call('public.fail_with(pg_catalog.text)', 'XX000'),
    call('public.fail_with(pg_catalog.text)', '57014')]));
SELECT last_applied_seq, (SELECT count(*) FROM accounts WHERE id = 20) AS erin FROM zyzzyva.status;
ROLLBACK;
SELECT last_applied_seq, (SELECT count(*) FROM accounts WHERE id = 20) AS erin FROM zyzzyva.status;

-- the batch is the caller's transaction: rolled back with it
BEGIN;
SELECT request, sqlstate FROM zyzzyva.apply_batch(6, 1, h(6), 0, 0, zyzzyva.encode_batch(ARRAY[
    call('public.open_account(integer,pg_catalog.text)', '20', 'erin')]));
ROLLBACK;
SELECT last_applied_seq, (SELECT count(*) FROM accounts WHERE id = 20) AS erin FROM zyzzyva.status;

-- a failed batch inside a savepoint leaves no replicated execution behind:
-- direct writes are refused again after ROLLBACK TO
BEGIN;
SAVEPOINT s;
SELECT * FROM zyzzyva.apply_batch(9, 1, h(9), 0, 0, zyzzyva.encode_batch(ARRAY[
    call('public.open_account(integer,pg_catalog.text)', '21', 'x')]));  -- fails inside
ROLLBACK TO s;
INSERT INTO accounts VALUES (21, 'mallory', 1000000, NULL);
ROLLBACK;
SELECT zyzzyva.verify_digest();
