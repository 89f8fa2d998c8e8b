--
-- ddl: schema setup as a replicated request (zyzzyva.replicated_ddl): it
-- runs inside apply_batch(), may declare replicated objects, refuses what
-- its undo could not take back, and rolls back to the exact earlier state
-- and digest.  Then the sidecar's status views, without a sidecar.
--
\pset null '(null)'

CREATE DATABASE zz_ddl TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_ddl
CREATE EXTENSION zyzzyva;
CREATE FUNCTION h(n bigint) RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT sha256(convert_to(n::text, 'UTF8')) $$;
CREATE FUNCTION ddl(sql text) RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT zyzzyva.encode_call('zyzzyva.replicated_ddl(text)', sql) $$;
CREATE FUNCTION call(signature text, VARIADIC args text[] DEFAULT '{}') RETURNS bytea
    IMMUTABLE LANGUAGE sql AS $$ SELECT zyzzyva.encode_call(signature, VARIADIC args) $$;
-- the objects of schemas public and ops, to see what a request created
CREATE FUNCTION schema_now() RETURNS TABLE (kind text, name text) LANGUAGE sql AS $$
    SELECT 'relation', c.oid::regclass::text
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('public', 'ops') AND c.relkind IN ('r', 'i', 'S')
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('public', 'ops')
       AND p.proname NOT IN ('h', 'ddl', 'call', 'schema_now')
    UNION ALL
    SELECT 'schema', nspname::text FROM pg_namespace WHERE nspname = 'ops'
    ORDER BY 1, 2
$$;
SELECT zyzzyva.state_digest() AS digest_0 \gset

-- outside replicated execution a call goes through the sidecar, like a
-- call of any replicated function: none is configured here
SELECT zyzzyva.replicated_ddl('CREATE TABLE t (id integer PRIMARY KEY)');
-- refused in a transaction block, like any replicated call
BEGIN;
SELECT zyzzyva.replicated_ddl('CREATE TABLE t (id integer PRIMARY KEY)');
ROLLBACK;
-- not for everyone: it runs DDL as the sidecar's role on every replica
CREATE ROLE zz_ddl_user;
SET ROLE zz_ddl_user;
SELECT zyzzyva.replicated_ddl('CREATE TABLE t (id integer PRIMARY KEY)');
RESET ROLE;
DROP ROLE zz_ddl_user;
-- not a table of declared functions: a built-in one
SELECT count(*) FROM zyzzyva.replicated_functions;

-- batch 1: a bank's schema, rows written before and after the table is
-- replicated, and a call of the function it declared, in the same batch
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(1, 0, h(1), 1700000000000000, 1, zyzzyva.encode_batch(ARRAY[
    ddl($$
        CREATE TABLE accounts (id integer PRIMARY KEY,
                               balance bigint NOT NULL CHECK (balance >= 0));
        CREATE INDEX accounts_balance ON accounts (balance);
        INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) AS g;
        CREATE FUNCTION transfer(a integer, b integer, amount bigint) RETURNS bigint
        LANGUAGE plpgsql AS $f$
        BEGIN
            UPDATE accounts SET balance = balance - amount WHERE id = a;
            UPDATE accounts SET balance = balance + amount WHERE id = b;
            RETURN (SELECT balance FROM accounts WHERE id = a);
        END $f$;
        SELECT zyzzyva.replicate_table('accounts');
        SELECT zyzzyva.replicate_function('transfer(integer,integer,bigint)');
        INSERT INTO accounts VALUES (6, 600);
    $$),
    call('public.transfer(integer,integer,bigint)', '1', '2', '10')]));
SELECT * FROM accounts ORDER BY id;
SELECT schema_name, table_name, primary_key, capturing FROM zyzzyva.replicated_tables;
SELECT signature FROM zyzzyva.replicated_functions;
SELECT zyzzyva.verify_digest(), zyzzyva.state_digest() <> :'digest_0' AS digest_moved;
-- its undo: schema actions in order with the row changes
SELECT ord, request, rel = 0 AS schema_action, action, target, old_row, new_row
  FROM zyzzyva.undo_log ORDER BY ord;
SELECT seq, request, sql LIKE '%CREATE TABLE accounts%' AS sql_kept FROM zyzzyva.ddl_history;
SELECT zyzzyva.state_digest() AS digest_1 \gset

-- batch 2: what a DDL request refuses, each its own request; a refusal is
-- the request's reply, and changes nothing
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(2, 0, h(2), 1700000001000000, 2, zyzzyva.encode_batch(ARRAY[
    ddl('DROP TABLE accounts CASCADE'),
    ddl('ALTER TABLE accounts ADD COLUMN a text, ADD COLUMN b text'),
    ddl('ALTER TABLE accounts DROP CONSTRAINT accounts_pkey'),
    ddl('ALTER TABLE accounts ENABLE ROW LEVEL SECURITY'),
    ddl('GRANT SELECT (balance) ON accounts TO PUBLIC'),
    ddl('CREATE TABLE refs (id integer PRIMARY KEY, a integer REFERENCES accounts); DROP TABLE accounts'),
    ddl('DROP SCHEMA public'),
    ddl('ALTER TABLE accounts ADD COLUMN n serial'),
    ddl('CREATE TEMPORARY SEQUENCE s'),
    ddl('CREATE UNLOGGED SEQUENCE s'),
    ddl('CREATE TEMPORARY TABLE s (id integer PRIMARY KEY)'),
    ddl('CREATE UNLOGGED TABLE s (id integer PRIMARY KEY)'),
    ddl('CREATE TABLE s (id serial PRIMARY KEY); INSERT INTO s DEFAULT VALUES'),
    ddl('VACUUM accounts'),
    ddl('CREATE INDEX CONCURRENTLY ON accounts (balance)'),
    ddl('COMMIT'),
    ddl('SET search_path = elsewhere'),
    ddl('DO $d$ BEGIN END $d$'),
    ddl('CREATE SCHEMA ops CREATE TABLE t (id integer PRIMARY KEY)'),
    ddl('CREATE TABLE s (id integer PRIMARY KEY); CREATE TABLE s (id integer PRIMARY KEY)'),
    ddl('CREATE TABLE s (id integer); SELECT zyzzyva.replicate_table(''s'')'),
    ddl('CREATE TABLE s (id integer PRIMARY KEY, at timestamptz); INSERT INTO s VALUES (1, now())'),
    ddl('CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$ SELECT zyzzyva.replicated_ddl(''SELECT 1'') $f$; SELECT f()'),
    ddl('CREATE TABLE s (id integer PRIMARY KEY); SELECT zyzzyva.replicate_table(''s''); SELECT zyzzyva.replicate_table(''s'')'),
    ddl('SELECT zyzzyva.rollback_to(0)'),
    ddl('CREATE TABLE'),
    ddl('')]));
-- nothing of them is left, and the replicated state is as before
SELECT * FROM schema_now();
SELECT zyzzyva.state_digest() = :'digest_1' AS digest_same, zyzzyva.verify_digest();
SELECT count(*) AS undo_records_of_batch_2 FROM zyzzyva.undo_log WHERE seq = 2;

-- a replicated function is not a DDL request: registration is still
-- refused inside its body
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(3, 0, h(3), 1700000002000000, 3, zyzzyva.encode_batch(ARRAY[
    ddl($$
        CREATE FUNCTION sneaky() RETURNS text LANGUAGE sql
            AS $f$ SELECT zyzzyva.replicate_function('transfer(integer,integer,bigint)') $f$;
        SELECT zyzzyva.replicate_function('sneaky()');
    $$),
    call('public.sneaky()')]));
SELECT zyzzyva.state_digest() AS digest_3 \gset

-- batch 4: more schema on top of what exists: a schema, a table in it with
-- a foreign key, altered, granted and given a trigger in the same request
-- (all undone by dropping it), an index on a replicated table, a
-- replicated table with rows, and calls
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(4, 1, h(4), 1700000003000000, 4, zyzzyva.encode_batch(ARRAY[
    ddl($$
        CREATE SCHEMA ops;
        CREATE TABLE ops.audit (n integer PRIMARY KEY,
                                account integer REFERENCES public.accounts,
                                amount bigint);
        ALTER TABLE ops.audit ADD COLUMN note text DEFAULT 'none';
        GRANT SELECT ON ops.audit TO PUBLIC;
        CREATE FUNCTION ops.no_negative() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
            IF NEW.amount < 0 THEN RAISE EXCEPTION 'negative'; END IF;
            RETURN NEW;
        END $f$;
        CREATE TRIGGER no_negative BEFORE INSERT ON ops.audit
            FOR EACH ROW EXECUTE FUNCTION ops.no_negative();
        CREATE UNIQUE INDEX accounts_balance_id ON accounts (balance, id);
        INSERT INTO ops.audit VALUES (1, 1, 5);
        SELECT zyzzyva.replicate_table('ops.audit');
        CREATE FUNCTION ops.note(n integer, account integer, amount bigint) RETURNS integer
        LANGUAGE sql AS $f$
            INSERT INTO ops.audit (n, account, amount) VALUES (n, account, amount) RETURNING n
        $f$;
        SELECT zyzzyva.replicate_function('ops.note(integer,integer,bigint)');
    $$),
    call('ops.note(integer,integer,bigint)', '2', '3', '7'),
    call('ops.note(integer,integer,bigint)', '3', '3', '-1'),
    call('public.transfer(integer,integer,bigint)', '3', '4', '50')]));
SELECT * FROM ops.audit ORDER BY n;
SELECT * FROM schema_now();
SELECT zyzzyva.verify_digest(), zyzzyva.state_digest() <> :'digest_3' AS digest_moved;
SELECT zyzzyva.state_digest() AS digest_4 \gset

-- a snapshot cannot look back across a DDL request: the current rows do
-- not say which tables were replicated before it
SELECT length(zyzzyva.snapshot(3)) > 0 AS snapshot_3;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT length(zyzzyva.snapshot(4)) > 0 AS snapshot_4;
COMMIT;

-- roll batch 4 back: its rows, registrations and objects go, newest first
SELECT zyzzyva.rollback_to(3);
SELECT * FROM schema_now();
SELECT schema_name, table_name FROM zyzzyva.replicated_tables;
SELECT signature FROM zyzzyva.replicated_functions ORDER BY signature;
SELECT to_regnamespace('ops') IS NULL AS ops_gone;
SELECT * FROM accounts ORDER BY id;
SELECT zyzzyva.state_digest() = :'digest_3' AS digest_restored, zyzzyva.verify_digest();

-- roll everything back: an empty replica again
SELECT zyzzyva.rollback_to(0);
SELECT * FROM schema_now();
SELECT count(*) AS tables FROM zyzzyva.replicated_tables;
SELECT count(*) AS functions FROM zyzzyva.replicated_functions;
SELECT count(*) AS undo, (SELECT count(*) FROM zyzzyva.ddl_history) AS ddl FROM zyzzyva.undo_log;
SELECT zyzzyva.state_digest() = :'digest_0' AS digest_empty, zyzzyva.verify_digest();

-- replay batch 1: the same digest as the first time
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(1, 2, h(1), 1700000000000000, 1, zyzzyva.encode_batch(ARRAY[
    ddl($$
        CREATE TABLE accounts (id integer PRIMARY KEY,
                               balance bigint NOT NULL CHECK (balance >= 0));
        CREATE INDEX accounts_balance ON accounts (balance);
        INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) AS g;
        CREATE FUNCTION transfer(a integer, b integer, amount bigint) RETURNS bigint
        LANGUAGE plpgsql AS $f$
        BEGIN
            UPDATE accounts SET balance = balance - amount WHERE id = a;
            UPDATE accounts SET balance = balance + amount WHERE id = b;
            RETURN (SELECT balance FROM accounts WHERE id = a);
        END $f$;
        SELECT zyzzyva.replicate_table('accounts');
        SELECT zyzzyva.replicate_function('transfer(integer,integer,bigint)');
        INSERT INTO accounts VALUES (6, 600);
    $$),
    call('public.transfer(integer,integer,bigint)', '1', '2', '10')]));
SELECT zyzzyva.state_digest() = :'digest_1' AS digest_same_as_first_time, zyzzyva.verify_digest();

-- ---------------------------------------------------------------------
-- Schema evolution: changes to objects that exist (extension/ddl_evolve.c).
-- Each kind runs in a batch, changes the catalog, the registry and the
-- digest, and rollback_to() restores every one of them exactly.
-- ---------------------------------------------------------------------
-- what the digest and a careful reader see of the replicated schema
CREATE FUNCTION schema_text() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(kind || ' ' || identity || ': ' || definition, E'\n'
                      ORDER BY kind COLLATE "C", identity COLLATE "C")
      FROM zyzzyva.schema_items
    UNION ALL SELECT NULL LIMIT 1
$$;
CREATE FUNCTION catalog_text() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(E'\n',
        (SELECT string_agg(c.oid::regclass::text || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '-'),
                           E'\n' ORDER BY c.oid::regclass::text COLLATE "C")
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')),
        (SELECT string_agg(p.oid::regprocedure::text || ' ' || coalesce(p.proacl::text, '-') || ' '
                           || md5(pg_get_functiondef(p.oid)), E'\n' ORDER BY p.oid::regprocedure::text COLLATE "C")
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.proname NOT IN ('h', 'ddl', 'call', 'schema_now',
                                                           'schema_text', 'catalog_text')),
        (SELECT string_agg(a.attrelid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                           || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-'),
                           E'\n' ORDER BY a.attrelid::regclass::text, a.attnum)
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT string_agg(conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid),
                           E'\n' ORDER BY conrelid::regclass::text COLLATE "C", conname COLLATE "C")
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
        (SELECT string_agg(schema_name || '.' || table_name, ',' ORDER BY schema_name || '.' || table_name COLLATE "C")
           FROM zyzzyva.table_registry),
        (SELECT string_agg(signature, ',' ORDER BY signature COLLATE "C") FROM zyzzyva.function_registry))
$$;
SELECT zyzzyva.state_digest() AS digest_e1, schema_text() AS schema_e1, catalog_text() AS catalog_e1 \gset

-- batch 2: a migration, one change per request, then calls
-- (kept, to be applied again after its rollback)
SELECT zyzzyva.encode_batch(ARRAY[
    ddl($$ALTER TABLE accounts ADD COLUMN owner text DEFAULT 'nobody'$$),
    ddl($$UPDATE accounts SET owner = 'o' || id$$),
    ddl($$ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(12,2)$$),
    ddl($$ALTER TABLE accounts ALTER COLUMN id TYPE bigint$$),
    ddl($$ALTER TABLE accounts RENAME COLUMN owner TO holder$$),
    ddl($$ALTER TABLE accounts ALTER COLUMN holder SET NOT NULL$$),
    ddl($$ALTER TABLE accounts ALTER COLUMN holder SET DEFAULT 'bank'$$),
    ddl($$ALTER TABLE accounts ADD CONSTRAINT holder_nonempty CHECK (holder <> '')$$),
    ddl($$CREATE UNIQUE INDEX accounts_holder ON accounts (holder)$$),
    ddl($$DROP INDEX accounts_balance$$),
    ddl($$ALTER TABLE accounts DROP CONSTRAINT accounts_balance_check$$),
    ddl($m$CREATE OR REPLACE FUNCTION transfer(a integer, b integer, amount bigint) RETURNS bigint
          LANGUAGE plpgsql AS $f$
          BEGIN
              UPDATE accounts SET balance = balance - amount WHERE id = a;
              UPDATE accounts SET balance = balance + amount WHERE id = b;
              RETURN (SELECT balance FROM accounts WHERE id = b);
          END $f$$m$),
    ddl($$GRANT SELECT, UPDATE ON accounts TO PUBLIC$$),
    ddl($$REVOKE EXECUTE ON FUNCTION transfer(integer, integer, bigint) FROM PUBLIC$$),
    call('public.transfer(integer,integer,bigint)', '1', '2', '5'),
    ddl($$ALTER TABLE accounts DROP COLUMN holder$$),
    call('public.transfer(integer,integer,bigint)', '2', '3', '1')]) AS batch_2 \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(2, 2, h(2), 1700000005000000, 5, :'batch_2');
SELECT * FROM accounts ORDER BY id;
SELECT catalog_text();
SELECT zyzzyva.verify_digest(), zyzzyva.state_digest() <> :'digest_e1' AS digest_moved;
SELECT action, count(*) FROM zyzzyva.undo_log WHERE seq = 2 AND action IS NOT NULL
 GROUP BY action ORDER BY action;
SELECT zyzzyva.state_digest() AS digest_e2, catalog_text() AS catalog_e2 \gset
-- rolled back: every change undone, newest first: the catalog, the
-- registry, the rows, the ACLs, the digest are as before
SELECT zyzzyva.rollback_to(1);
SELECT catalog_text() = :'catalog_e1' AS catalog_restored,
       schema_text() = :'schema_e1' AS schema_items_restored,
       zyzzyva.state_digest() = :'digest_e1' AS digest_restored, zyzzyva.verify_digest();
SELECT count(*) AS undo_schemas FROM pg_namespace WHERE nspname LIKE 'zyzzyva\_undo\_%';
-- and applied again, the same state as the first time
SELECT count(*) FILTER (WHERE sqlstate <> '00000') AS failed
  FROM zyzzyva.apply_batch(2, 2, h(2), 1700000005000000, 5, :'batch_2');
SELECT zyzzyva.state_digest() = :'digest_e2' AS digest_as_first_time,
       catalog_text() = :'catalog_e2' AS catalog_as_first_time, zyzzyva.verify_digest();

-- batch 3: a second table and function; batch 4: renames and drops
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(3, 2, h(3), 1700000006000000, 6, zyzzyva.encode_batch(ARRAY[
    ddl($$CREATE TABLE ledger (id integer PRIMARY KEY, account integer REFERENCES accounts, note text);
          INSERT INTO ledger VALUES (1, 1, 'opened');
          SELECT zyzzyva.replicate_table('ledger');
          CREATE FUNCTION note_it(i integer, n text) RETURNS integer LANGUAGE sql
              AS $f$ INSERT INTO ledger VALUES (i, 1, n) RETURNING id $f$;
          SELECT zyzzyva.replicate_function('note_it(integer,text)')$$),
    call('public.note_it(integer,pg_catalog.text)', '2', 'hello')]));
SELECT zyzzyva.state_digest() AS digest_e3, catalog_text() AS catalog_e3 \gset
-- (kept, to be applied again after its rollback)
SELECT zyzzyva.encode_batch(ARRAY[
    ddl($$ALTER TABLE accounts RENAME TO acct$$),
    ddl($$ALTER FUNCTION transfer(integer, integer, bigint) RENAME TO move$$),
    ddl($$GRANT INSERT ON acct TO PUBLIC; REVOKE ALL ON FUNCTION move(integer, integer, bigint) FROM PUBLIC$$),
    ddl($$DROP FUNCTION note_it(integer, text)$$),
    call('public.note_it(integer,pg_catalog.text)', '3', 'gone'),
    ddl($$DROP TABLE ledger$$),
    ddl($$DROP TABLE ledger$$),
    ddl($$DROP TABLE IF EXISTS ledger$$),
    ddl($m$CREATE TABLE scratch (id integer PRIMARY KEY); CREATE INDEX scratch_i ON scratch (id);
          ALTER INDEX scratch_i RENAME TO scratch_j; ALTER TABLE scratch RENAME TO scratch2;
          CREATE FUNCTION tmpf() RETURNS integer LANGUAGE sql AS $f$ SELECT 1 $f$;
          ALTER FUNCTION tmpf() RENAME TO tmpg$m$)]) AS batch_4 \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(4, 2, h(4), 1700000007000000, 7, :'batch_4');
SELECT schema_name, table_name FROM zyzzyva.replicated_tables ORDER BY 1, 2;
SELECT signature FROM zyzzyva.replicated_functions ORDER BY 1;
SELECT to_regclass('ledger') IS NULL AS ledger_gone, to_regprocedure('note_it(integer,text)') IS NULL AS note_it_gone;
SELECT count(*) AS undo_schemas FROM pg_namespace WHERE nspname LIKE 'zyzzyva\_undo\_%';
SELECT zyzzyva.verify_digest(), zyzzyva.state_digest() <> :'digest_e3' AS digest_moved;
SELECT zyzzyva.state_digest() AS digest_e4 \gset
SELECT zyzzyva.rollback_to(3);
SELECT catalog_text() = :'catalog_e3' AS catalog_restored,
       zyzzyva.state_digest() = :'digest_e3' AS digest_restored, zyzzyva.verify_digest();
SELECT * FROM ledger ORDER BY id;
SELECT count(*) AS undo_schemas FROM pg_namespace WHERE nspname LIKE 'zyzzyva\_undo\_%';
SELECT count(*) FILTER (WHERE sqlstate <> '00000') AS failed
  FROM zyzzyva.apply_batch(4, 2, h(4), 1700000007000000, 7, :'batch_4');
SELECT zyzzyva.state_digest() = :'digest_e4' AS digest_as_first_time;
-- what the undo keeps is protected like replicated objects, outside
-- replication
DO $$
DECLARE
    nsp text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relname = 'ledger');
BEGIN
    BEGIN
        EXECUTE format('DROP TABLE %I.ledger', nsp);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'DROP TABLE of a table kept by undo: SQLSTATE %', SQLSTATE;
    END;
    BEGIN
        EXECUTE format('DROP SCHEMA %I CASCADE', nsp);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'DROP SCHEMA of a schema kept by undo: SQLSTATE %', SQLSTATE;
    END;
END $$;
-- a stable checkpoint drops what the undo kept
SELECT zyzzyva.mark_stable(4, :'digest_e4') > 0 AS undo_deleted;
SELECT count(*) AS undo_schemas FROM pg_namespace WHERE nspname LIKE 'zyzzyva\_undo\_%';
SELECT seq, request, role IS NOT NULL AS has_role, left(regexp_replace(sql, '\s+', ' ', 'g'), 40) AS sql
  FROM zyzzyva.ddl_history ORDER BY seq, request;

-- state transfer across schema changes: a new replica installs the
-- snapshot of checkpoint 4; it runs the schema history first
SELECT zyzzyva.snapshot(4) AS snap_e4 \gset
SELECT zyzzyva.state_digest() AS digest_e4b, catalog_text() AS catalog_e4,
       (SELECT string_agg(kind || ' ' || identity || ' ' || definition, E'\n'
                          ORDER BY kind COLLATE "C", identity COLLATE "C")
          FROM zyzzyva.schema_items) AS items_e4 \gset
CREATE DATABASE zz_ddl_b TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_ddl_b
CREATE EXTENSION zyzzyva;
-- a speculative schema change of its own, not in the certified history:
-- install rolls back to its stable checkpoint first
SELECT request, sqlstate FROM zyzzyva.apply_batch(1, 0, sha256('stray'), 1700000000000000, 1,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('zyzzyva.replicated_ddl(text)',
                                                   'CREATE TABLE stray (id integer PRIMARY KEY)')]));
SELECT to_regclass('stray') IS NOT NULL AS stray_there;
-- a history that is not the certified one is refused before it runs
SELECT zyzzyva.install_snapshot(4, sha256('4'), :'digest_e4b',
         decode(replace(encode(:'snap_e4', 'hex'), encode('RENAME TO acct', 'hex'),
                        encode('RENAME TO evil', 'hex')), 'hex'));
SELECT to_regclass('accounts') IS NULL AND to_regclass('evil') IS NULL AS nothing_ran;
-- a history whose statement is not valid UTF-8 (the same length, two bytes
-- changed) or whose statement's length runs past the end of the snapshot
-- is refused as malformed, before anything runs or is installed
SELECT zyzzyva.install_snapshot(4, sha256('4'), :'digest_e4b',
         decode(replace(encode(:'snap_e4', 'hex'), encode('RENAME TO acct', 'hex'),
                        encode('RENAME TO a', 'hex') || 'c3ff' || encode('t', 'hex')), 'hex'));
SELECT zyzzyva.install_snapshot(4, sha256('4'), :'digest_e4b',
         decode(replace(encode(:'snap_e4', 'hex'),
                        '00000023' || encode('ALTER TABLE accounts RENAME TO acct', 'hex'),
                        '7fffffff' || encode('ALTER TABLE accounts RENAME TO acct', 'hex')), 'hex'));
SELECT position('\x00000023'::bytea || convert_to('ALTER TABLE accounts RENAME TO acct', 'UTF8')
                IN :'snap_e4') > 0 AS length_found;
SELECT to_regclass('accounts') IS NULL AND to_regclass('acct') IS NULL AS nothing_ran,
       to_regclass('stray') IS NOT NULL AS stray_there,
       (SELECT count(*) FROM zyzzyva.ddl_history) AS ddl_requests,
       (SELECT last_seq FROM zyzzyva.replica_state) AS last_seq;
SELECT zyzzyva.install_snapshot(4, sha256('4'), :'digest_e4b', :'snap_e4') AS rows_installed;
SELECT zyzzyva.state_digest() = :'digest_e4b' AS digest_ok, zyzzyva.verify_digest(),
       to_regclass('stray') IS NULL AS stray_rolled_back;
SELECT * FROM acct ORDER BY id;
SELECT schema_name, table_name FROM zyzzyva.replicated_tables ORDER BY 1, 2;
SELECT signature FROM zyzzyva.replicated_functions ORDER BY 1;
SELECT count(*) AS ddl_requests FROM zyzzyva.ddl_history;
SELECT count(*) AS undo_schemas FROM pg_namespace WHERE nspname LIKE 'zyzzyva\_undo\_%';
-- the digest covers the schema history: a change that schema_items does
-- not show (an ordinary index) still gives another digest
SELECT request, sqlstate FROM zyzzyva.apply_batch(5, 0, sha256('5'), 1700000008000000, 8,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('zyzzyva.replicated_ddl(text)',
                                                   'CREATE INDEX acct_extra ON acct (balance)')]));
SELECT (SELECT string_agg(kind || ' ' || identity || ' ' || definition, E'\n'
                          ORDER BY kind COLLATE "C", identity COLLATE "C")
          FROM zyzzyva.schema_items) = :'items_e4' AS same_schema_items,
       zyzzyva.state_digest() <> :'digest_e4b' AS digest_differs;
\c zz_ddl
DROP DATABASE zz_ddl_b;

-- the sidecar's status views: with no sidecar configured, a clear error
SELECT * FROM zyzzyva.sidecar_status();
SELECT * FROM zyzzyva.sidecar;
-- with nothing at the socket path, an error at once (never a wait)
SET zyzzyva.socket_path = '/nonexistent/zyzzyva.sock';
SELECT * FROM zyzzyva.peers;
SELECT * FROM zyzzyva.request_stats;
DO $$
BEGIN
    PERFORM * FROM zyzzyva.sidecar;
EXCEPTION WHEN connection_failure THEN
    RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;
-- the views' columns
SELECT attrelid::regclass AS view, string_agg(attname, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute
 WHERE attrelid IN ('zyzzyva.sidecar'::regclass, 'zyzzyva.peers'::regclass,
                    'zyzzyva.request_stats'::regclass)
 GROUP BY attrelid ORDER BY attrelid::regclass::text;
RESET zyzzyva.socket_path;

\c contrib_regression
DROP DATABASE zz_ddl;
