--
-- call: outside replicated execution, a call of a replicated function goes
-- through this replica's sidecar.  No sidecar runs here: these are the
-- paths that need none (refusals, an absent sidecar, and replicated
-- execution, which runs the body itself).  regress/t/003_call.t answers
-- calls with a fake sidecar.
--
\pset null '(null)'

-- a replicated function keeps its definition: calls are routed in the
-- function manager, the catalog is untouched
SELECT signature, language, volatility, result_type
  FROM zyzzyva.replicated_functions WHERE signature LIKE 'public.echo%';
SELECT prosrc FROM pg_proc WHERE oid = 'echo(text)'::regprocedure;

-- no sidecar configured
SHOW zyzzyva.socket_path;
SELECT echo('hello');

-- a sidecar configured but not running: an error at once, never a wait
SET zyzzyva.socket_path = '/nonexistent/zyzzyva.sock';
SELECT echo('hello');
SELECT transfer(1, 2, 10);
SELECT id, balance FROM accounts ORDER BY id;
-- a relative path is relative to the data directory
SET zyzzyva.socket_path = 'no-sidecar.sock';
DO $$
BEGIN
    PERFORM echo('hello');
EXCEPTION WHEN connection_failure THEN
    RAISE NOTICE '%', regexp_replace(SQLERRM, '"/.*/', '"$PGDATA/');
END $$;
-- a path too long for a Unix socket
SELECT set_config('zyzzyva.socket_path', '/' || repeat('x', 120), false) IS NOT NULL AS set;
SELECT echo('hello');
SET zyzzyva.socket_path = '/nonexistent/zyzzyva.sock';

-- every caller goes through the sidecar: PL/pgSQL, a SQL function (whose
-- body would otherwise be inlined), a DO block, a default
CREATE FUNCTION relay(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN echo(t) || '!';
END $$;
CREATE FUNCTION relay_sql(t text) RETURNS text LANGUAGE sql AS $$ SELECT echo(t) $$;
SELECT relay('x');
SELECT relay_sql('x');
DO $$ BEGIN PERFORM echo('x'); END $$;
CREATE TEMP TABLE notes (id integer, note text DEFAULT echo('default'));
INSERT INTO notes (id) VALUES (1);

-- STRICT: a NULL argument gives NULL without a call, as on the replicas
SELECT echo(NULL) IS NULL AS is_null;

-- wrong calls are ordinary errors, raised before anything is sent
SELECT transfer(1, 2);
SELECT transfer('one', 2, 10);
SELECT transfer(1, 2, 10, 4);

-- a replicated call commits by itself, so it is refused inside a
-- transaction block, explicit or implicit (statements sent together)
BEGIN;
SELECT echo('in a block');
ROLLBACK;
SELECT 1 AS one \; SELECT echo('sent together');
SELECT 1 AS one \; SELECT echo(NULL) IS NULL AS strict_null_needs_no_call;
-- an EXCEPTION block is a subtransaction: inside a transaction block the
-- call is refused there too; in a statement of its own the call goes out,
-- and the block may catch its error
BEGIN;
DO $$
BEGIN
    PERFORM echo('in a block, in a subtransaction');
EXCEPTION WHEN active_sql_transaction THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;
ROLLBACK;
DO $$
BEGIN
    PERFORM echo('in a subtransaction');
EXCEPTION WHEN connection_failure THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;

-- registration takes only functions whose every call is a request
CREATE FUNCTION stable_fn() RETURNS integer STABLE LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION anon() RETURNS record LANGUAGE sql AS $$ SELECT 1, 'x'::text $$;
CREATE FUNCTION pair(OUT a integer, OUT b text) LANGUAGE sql AS $$ SELECT 1, 'x'::text $$;
SELECT zyzzyva.replicate_function('stable_fn()');
SELECT zyzzyva.replicate_function('anon()');
SELECT zyzzyva.replicate_function('pair()');

-- a plan made before registration is made again: its inlined body would
-- otherwise escape the sidecar
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql AS $$ SELECT upper(t) $$;
PREPARE shouting AS SELECT shout('quiet');
EXECUTE shouting;
SELECT zyzzyva.replicate_function('shout(text)');
EXECUTE shouting;
DEALLOCATE shouting;

-- the registry names functions by signature: a function dropped and made
-- again stays replicated; a renamed one is no longer the one it names
-- (outside replication only in repair mode)
SET zyzzyva.repair_mode = on;
SET client_min_messages = error;
DROP FUNCTION shout(text);
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql AS $$ SELECT upper(t) || '!' $$;
SELECT shout('again');
ALTER FUNCTION shout(text) RENAME TO murmur;
SELECT murmur('renamed');
ALTER FUNCTION murmur(text) RENAME TO shout;
RESET client_min_messages;
RESET zyzzyva.repair_mode;
SELECT shout('back');

-- in replicated execution the body runs here, sidecar or not; so do the
-- replicated functions it calls, and the registry is the one the batch
-- sees
SELECT zyzzyva.replicate_function('relay(text)');
SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000005000000, 47, zyzzyva.encode_batch(ARRAY[
    call('public.echo(pg_catalog.text)', 'local'),
    call('public.relay(pg_catalog.text)', 'nested'),
    call('public.shout(pg_catalog.text)', 'inlined'),
    call('public.pair()'),
    call('public.transfer(integer,integer,numeric)', '1', '2', '1')]));
SELECT id, balance FROM accounts ORDER BY id;
SELECT zyzzyva.verify_digest();
-- and after it, calls go to the sidecar again
SELECT echo('after');

-- no call has completed in this session
SELECT * FROM zyzzyva.last_call();
RESET zyzzyva.socket_path;
