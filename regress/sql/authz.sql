--
-- authz: a replicated call runs as the role that made it, in a
-- security-restricted operation, only if the replica that sent it is
-- entrusted with that role (extension/authz.c).  Every refusal is the
-- request's reply, so every replica gives the same one.
--
\pset null '(null)'
CREATE DATABASE zz_authz TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_authz
CREATE EXTENSION zyzzyva;
CREATE ROLE zz_alice;
CREATE ROLE zz_bob;
CREATE ROLE zz_carol;
CREATE ROLE zz_root SUPERUSER;
CREATE FUNCTION h(n bigint) RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT sha256(convert_to(n::text, 'UTF8')) $$;
-- a call by role from replica 0's clients
CREATE FUNCTION call_as(role name, signature text, VARIADIC args text[] DEFAULT '{}')
    RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT zyzzyva.encode_call_as(role, current_database(), signature, VARIADIC args) $$;

-- accounts under row security: each role sees and pays into its own
CREATE TABLE acct (id integer PRIMARY KEY, owner name NOT NULL, balance integer NOT NULL);
INSERT INTO acct VALUES (1, 'zz_alice', 100), (2, 'zz_bob', 100);
ALTER TABLE acct ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON acct USING (owner = current_user);
GRANT SELECT, UPDATE ON acct TO zz_alice, zz_bob;
CREATE FUNCTION pay(i integer, amount integer) RETURNS integer LANGUAGE sql
    AS $$ UPDATE acct SET balance = balance + amount WHERE id = i RETURNING balance $$;
REVOKE EXECUTE ON FUNCTION pay(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pay(integer, integer) TO zz_alice, zz_carol;
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT current_user::text $$;
-- a SECURITY DEFINER function owned by zz_bob: runs as zz_bob
CREATE FUNCTION bob_pays(i integer) RETURNS text LANGUAGE sql SECURITY DEFINER
    AS $$ UPDATE acct SET balance = balance + 1 WHERE id = i;
          SELECT current_user || ' ' || coalesce((SELECT balance FROM acct WHERE id = i)::text, 'nothing') $$;
ALTER FUNCTION bob_pays(integer) OWNER TO zz_bob;
-- what a security-restricted operation refuses
CREATE FUNCTION make_temp() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN CREATE TEMP TABLE scratch (x integer); END $$;
CREATE FUNCTION become(r text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN EXECUTE format('SET ROLE %I', r); RETURN current_user; END $$;
CREATE FUNCTION entrust_me(v text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN PERFORM set_config('zyzzyva.entrust', v, false); RETURN v; END $$;
SELECT zyzzyva.replicate_table('acct');
SELECT zyzzyva.replicate_function('pay(integer,integer)'),
       zyzzyva.replicate_function('whoami()'),
       zyzzyva.replicate_function('bob_pays(integer)'),
       zyzzyva.replicate_function('make_temp()'),
       zyzzyva.replicate_function('become(text)'),
       zyzzyva.replicate_function('entrust_me(text)');

-- the entrustment is set in postgresql.conf or by a superuser at
-- connection start (the sidecar does, from its configuration), never later
SELECT current_setting('zyzzyva.entrust') LIKE '0:*,%' AS from_postgresql_conf;
SET zyzzyva.entrust = '0:*';
-- replica 0 may call as alice, bob and carol; replica 1 as any role that is
-- not a superuser; replica 2 as the superuser zz_root, by name
\c "dbname=zz_authz options='-c zyzzyva.entrust=0:zz_alice,zz_bob,zz_carol;1:*;2:zz_root'"
SHOW zyzzyva.entrust;
-- not even a superuser may change it within a session
SET zyzzyva.entrust = '0:*';

-- batch 1, every request from replica 0 (client ids 0 .. 65535)
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(1, 0, h(1), 1700000000000000, 1, zyzzyva.encode_batch(ARRAY[
    call_as('zz_alice', 'public.whoami()'),                    -- runs as the caller
    call_as('zz_alice', 'public.pay(integer,integer)', '1', '5'),   -- her row
    call_as('zz_alice', 'public.pay(integer,integer)', '2', '5'),   -- row security hides bob's
    call_as('zz_bob', 'public.pay(integer,integer)', '2', '5'),     -- no EXECUTE: 42501
    call_as('zz_carol', 'public.pay(integer,integer)', '1', '5'),   -- EXECUTE, but no UPDATE on acct
    call_as('zz_alice', 'public.bob_pays(integer)', '2'),      -- SECURITY DEFINER: as its owner
    call_as('zz_nobody', 'public.whoami()'),                   -- a role not entrusted (nor existing)
    call_as('zz_alice', 'public.make_temp()'),                 -- restricted operation
    call_as('zz_alice', 'public.become(pg_catalog.text)', 'zz_bob'),      -- no SET ROLE
    call_as('zz_alice', 'public.entrust_me(pg_catalog.text)', '0:*'),     -- no changing the entrustment
    zyzzyva.encode_call_as('zz_alice', 'elsewhere', 'public.whoami()'),  -- another database
    call_as('zz_root', 'public.whoami()')                      -- a superuser replica 0 was not given
  ]));
SELECT id, owner, balance FROM acct ORDER BY id;

-- batch 2: the origin replica is the client id / 65536
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(2, 0, h(2), 1700000001000000, 2, zyzzyva.encode_batch(ARRAY[
    call_as('zz_alice', 'public.whoami()'),       -- replica 0: entrusted
    call_as('zz_alice', 'public.whoami()'),       -- replica 1: "*"
    call_as('zz_root', 'public.whoami()'),        -- replica 1: "*" does not cover a superuser
    call_as('zz_alice', 'public.whoami()'),       -- replica 3: nothing
    call_as('zz_alice', 'public.whoami()'),       -- replica 0, its last client slot
    call_as('zz_nobody', 'public.whoami()')       -- replica 1: "*", but no such role
  ], ARRAY[7, 65536, 65537, 196608, 65535, 65538]));
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(3, 0, h(3), 1700000002000000, 3, zyzzyva.encode_batch(ARRAY[
    call_as('zz_root', 'public.whoami()')],       -- replica 2: named
    ARRAY[131072]));

-- no entrustment at all: every call is refused
\c "dbname=zz_authz options='-c zyzzyva.entrust='"
SHOW zyzzyva.entrust;
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(4, 0, h(4), 1700000003000000, 4, zyzzyva.encode_batch(ARRAY[
    call_as('zz_alice', 'public.whoami()')]));

-- nothing above leaked into this session: still the superuser, no temp table
SELECT current_user = session_user AS same_user, to_regclass('pg_temp.scratch') AS scratch;
SELECT zyzzyva.verify_digest();

-- search_path: a role that may create in public plants functions that
-- outrank pg_catalog's for the extension's own queries (quote_ident(name)
-- is a better match for a name than pg_catalog.quote_ident(text)).
-- Reading the views and the digest, and applying a batch, call none of them.
CREATE ROLE zz_mallory;
CREATE TABLE pwned (who text, what text);
GRANT INSERT ON pwned TO PUBLIC;
GRANT CREATE ON SCHEMA public TO zz_mallory;
SET ROLE zz_mallory;
CREATE FUNCTION public.quote_ident(n name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.pwned VALUES (current_user, 'quote_ident'); RETURN n::text; END $$;
CREATE FUNCTION public.to_regclass(n name) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.pwned VALUES (current_user, 'to_regclass'); RETURN NULL; END $$;
CREATE FUNCTION public.concat_ws(t text, VARIADIC a name[]) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.pwned VALUES (current_user, 'concat_ws'); RETURN t; END $$;
RESET ROLE;
SELECT quote_ident('x'::name) AS planted_is_visible;
DELETE FROM pwned;
SELECT count(*) > 0 AS has_status FROM zyzzyva.status;
SELECT count(*) AS items FROM zyzzyva.schema_items;
SELECT count(*) AS tables FROM zyzzyva.replicated_tables;
SELECT zyzzyva.verify_digest();
SELECT length(zyzzyva.table_definition('acct')) > 0 AS has_definition;
\c "dbname=zz_authz options='-c zyzzyva.entrust=0:zz_alice'"
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(5, 0, h(5), 1700000004000000, 5, zyzzyva.encode_batch(ARRAY[
    call_as('zz_alice', 'public.pay(integer,integer)', '1', '1')]));
SELECT * FROM pwned;

-- what replicated execution refuses whoever the caller is, a superuser
-- included: reaching outside the database, changing roles, code outside
-- PostgreSQL's privilege checks
CREATE FUNCTION shell() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN COPY (SELECT 1) TO PROGRAM 'touch /tmp/zz_authz_pwned'; END $$;
CREATE FUNCTION copy_file() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN COPY (SELECT 1) TO '/tmp/zz_authz_pwned'; END $$;
CREATE FUNCTION read_conf() RETURNS text LANGUAGE sql
    AS $$ SELECT pg_read_file('postgresql.conf') $$;
CREATE FUNCTION list_dir() RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN RETURN (SELECT count(*) FROM pg_ls_dir('.')); END $$;
CREATE FUNCTION import_file() RETURNS oid LANGUAGE plpgsql
    AS $$ BEGIN RETURN lo_import('/etc/hostname'); END $$;
CREATE FUNCTION alter_system() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN ALTER SYSTEM SET work_mem = '1GB'; END $$;
CREATE FUNCTION make_role() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN CREATE ROLE zz_evil SUPERUSER; END $$;
CREATE FUNCTION grant_role() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN GRANT zz_root TO zz_alice; END $$;
CREATE FUNCTION alter_role() RETURNS void LANGUAGE plpgsql
    AS $$ BEGIN ALTER ROLE zz_alice SUPERUSER; END $$;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY['shell()', 'copy_file()', 'read_conf()',
    'list_dir()', 'import_file()', 'alter_system()', 'make_role()', 'grant_role()',
    'alter_role()']::regprocedure[]) AS f;
\c "dbname=zz_authz options='-c zyzzyva.entrust=2:zz_root'"
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(6, 0, h(6), 1700000005000000, 6, zyzzyva.encode_batch(ARRAY[
    call_as('zz_root', 'public.shell()'),
    call_as('zz_root', 'public.copy_file()'),
    call_as('zz_root', 'public.read_conf()'),
    call_as('zz_root', 'public.list_dir()'),
    call_as('zz_root', 'public.import_file()'),
    call_as('zz_root', 'public.alter_system()'),
    call_as('zz_root', 'public.make_role()'),
    call_as('zz_root', 'public.grant_role()'),
    call_as('zz_root', 'public.alter_role()'),
    call_as('zz_root', 'zyzzyva.replicated_ddl(text)',
            'CREATE FUNCTION evil() RETURNS integer AS ''$libdir/zyzzyva'', ''zyzzyva_now'' LANGUAGE c'),
    call_as('zz_root', 'zyzzyva.replicated_ddl(text)',
            'CREATE FUNCTION evil() RETURNS integer LANGUAGE internal AS ''now'''),
    call_as('zz_root', 'zyzzyva.replicated_ddl(text)',
            'CREATE FUNCTION fine() RETURNS integer LANGUAGE sql AS ''SELECT 1''')
  ], array_fill(131072, ARRAY[12])));
-- nothing happened outside: no file, no role, no superuser alice
SELECT pg_stat_file('/tmp/zz_authz_pwned', true) IS NULL AS no_file,
       (SELECT count(*) FROM pg_roles WHERE rolname = 'zz_evil') AS evil_roles,
       (SELECT rolsuper FROM pg_roles WHERE rolname = 'zz_alice') AS alice_super,
       pg_has_role('zz_alice', 'zz_root', 'MEMBER') AS alice_in_root,
       to_regprocedure('public.fine()') IS NOT NULL AS fine_created;

-- replicated objects change only through replication: outside it, for
-- every role (a superuser here), these are refused
\set VERBOSITY terse
ALTER TABLE acct DISABLE TRIGGER zyzzyva_capture;
ALTER TABLE acct DISABLE TRIGGER ALL;
ALTER TABLE acct ADD COLUMN note text;
ALTER TABLE acct OWNER TO zz_bob;
ALTER TABLE acct RENAME TO accounts;
CREATE TRIGGER sneak BEFORE UPDATE ON acct FOR EACH ROW EXECUTE FUNCTION zyzzyva.capture();
DROP TRIGGER zyzzyva_guard ON acct;
CREATE RULE sneak AS ON UPDATE TO acct DO ALSO NOTIFY acct;
CREATE POLICY sneak ON acct USING (true);
DROP POLICY own ON acct;
CREATE UNIQUE INDEX ON acct (owner);
GRANT SELECT ON acct TO zz_carol;
DROP TABLE acct;
CREATE OR REPLACE FUNCTION whoami() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT 'root'::text $$;
ALTER FUNCTION pay(integer, integer) SECURITY DEFINER;
ALTER FUNCTION pay(integer, integer) OWNER TO zz_bob;
ALTER FUNCTION whoami() RENAME TO who;
REVOKE EXECUTE ON FUNCTION pay(integer, integer) FROM zz_alice;
DROP FUNCTION whoami();
DROP SCHEMA public CASCADE;
-- ... and by an owner
SET ROLE zz_bob;
CREATE OR REPLACE FUNCTION bob_pays(i integer) RETURNS text LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT 'mine' $$;
SET zyzzyva.repair_mode = on;
RESET ROLE;
-- what stays allowed: an ordinary index, objects that are not replicated
CREATE INDEX acct_balance ON acct (balance);
DROP INDEX acct_balance;
CREATE TABLE local_notes (id integer PRIMARY KEY);
ALTER TABLE local_notes ADD COLUMN note text;
DROP TABLE local_notes;
-- repair mode: a superuser may, with a WARNING for each change
SET zyzzyva.repair_mode = on;
CREATE TRIGGER sneak BEFORE UPDATE ON acct FOR EACH ROW EXECUTE FUNCTION zyzzyva.capture();
DROP TRIGGER sneak ON acct;
RESET zyzzyva.repair_mode;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'acct'::regclass;
\set VERBOSITY default
-- privileges, row security and the roles they name are in the schema
-- digest: a replica whose grants or roles differ is found at a checkpoint
SELECT zyzzyva.state_digest() AS d0 \gset
SET client_min_messages = error;
SET zyzzyva.repair_mode = on;
REVOKE EXECUTE ON FUNCTION pay(integer, integer) FROM zz_alice;
SELECT zyzzyva.state_digest() <> :'d0' AS revoke_seen;
GRANT EXECUTE ON FUNCTION pay(integer, integer) TO zz_alice;
SELECT zyzzyva.state_digest() = :'d0' AS grant_back;
ALTER TABLE acct FORCE ROW LEVEL SECURITY;
SELECT zyzzyva.state_digest() <> :'d0' AS rls_seen;
ALTER TABLE acct NO FORCE ROW LEVEL SECURITY;
RESET zyzzyva.repair_mode;
ALTER ROLE zz_alice BYPASSRLS;
SELECT zyzzyva.state_digest() <> :'d0' AS role_attribute_seen;
ALTER ROLE zz_alice NOBYPASSRLS;
SELECT zyzzyva.state_digest() = :'d0' AS all_back;
RESET client_min_messages;

-- schema changes need f+1 replicas: with f = 1 a replicated DDL request is
-- a proposal until a second replica proposes the same text as the same
-- role; it runs in the batch where that proposal lands
\c "dbname=zz_authz options='-c zyzzyva.entrust=0:zz_root,zz_alice;1:zz_root;2:zz_root -c zyzzyva.cluster_f=1 -c zyzzyva.ddl_proposal_timeout=10'"
CREATE FUNCTION ddl_as(role name, sql text) RETURNS bytea IMMUTABLE LANGUAGE sql
    AS $$ SELECT call_as(role, 'zyzzyva.replicated_ddl(text)', sql) $$;
CREATE FUNCTION batch(seq bigint, secs bigint, calls bytea[], clients integer[])
    RETURNS TABLE (request integer, sqlstate text, result text) LANGUAGE sql
    AS $$ SELECT request, sqlstate, result FROM zyzzyva.apply_batch(seq, 0, h(seq),
              1700000100000000 + secs * 1000000, seq, zyzzyva.encode_batch(calls, clients)) $$;
SELECT * FROM batch(7, 0, ARRAY[ddl_as('zz_root', 'CREATE TABLE t1 (id integer PRIMARY KEY)')], ARRAY[0]);
SELECT to_regclass('t1') AS t1, sql, role, replica, proposed_seq, replicas FROM zyzzyva.ddl_proposals;
-- the same replica again (another of its clients): still one replica
SELECT * FROM batch(8, 1, ARRAY[ddl_as('zz_root', 'CREATE TABLE t1 (id integer PRIMARY KEY)')], ARRAY[5]);
SELECT to_regclass('t1') AS t1, replica, proposed_seq, replicas FROM zyzzyva.ddl_proposals;
-- another text, or the same text as another role, does not count
SELECT * FROM batch(9, 2, ARRAY[ddl_as('zz_root', 'CREATE TABLE t1 (id integer PRIMARY KEY) ')], ARRAY[65536]);
SELECT role, replica, replicas FROM zyzzyva.ddl_proposals ORDER BY proposed_seq;
-- replica 1, same text and role: it runs now, as zz_root
SELECT * FROM batch(10, 3, ARRAY[ddl_as('zz_root', 'CREATE TABLE t1 (id integer PRIMARY KEY)')], ARRAY[65537]);
SELECT to_regclass('t1') AS t1, (SELECT rolname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
                                  WHERE c.oid = 't1'::regclass) AS owner;
SELECT sql, replica FROM zyzzyva.ddl_proposals;
SELECT seq, sql FROM zyzzyva.ddl_history;
-- a proposal can be withdrawn by the replica that made it
SELECT * FROM batch(11, 4, ARRAY[ddl_as('zz_root', 'CREATE TABLE t2 (id integer PRIMARY KEY)'),
                                 call_as('zz_root', 'zyzzyva.withdraw_ddl(text)', 'CREATE TABLE t2 (id integer PRIMARY KEY)'),
                                 ddl_as('zz_root', 'CREATE TABLE t2 (id integer PRIMARY KEY)')],
                     ARRAY[131072, 131072, 65536]);
SELECT to_regclass('t2') AS t2, replica FROM zyzzyva.ddl_proposals ORDER BY replica;
-- ... and expires zyzzyva.ddl_proposal_timeout (10 s here) after its batch's time
SELECT * FROM batch(12, 15, ARRAY[ddl_as('zz_root', 'CREATE TABLE t2 (id integer PRIMARY KEY)')], ARRAY[0]);
SELECT to_regclass('t2') AS t2, replica, proposed_seq FROM zyzzyva.ddl_proposals ORDER BY replica;
-- the proposals are replicated state: in the digest, undone with their batch
SELECT zyzzyva.verify_digest();
SELECT zyzzyva.rollback_to(11);
SELECT to_regclass('t2') AS t2, replica, proposed_seq FROM zyzzyva.ddl_proposals ORDER BY replica;
SELECT zyzzyva.verify_digest();
-- and written only by replicated execution
INSERT INTO zyzzyva.ddl_proposal VALUES ('\x00', 'zz_root', 3, 'DROP TABLE acct', 1, 0);
SELECT zyzzyva.withdraw_ddl('CREATE TABLE t2 (id integer PRIMARY KEY)');
DROP TABLE t1;

-- the sidecar's connection needs no superuser: zyzzyva_sidecar holds
-- what it uses (the entrustment comes from a superuser: postgresql.conf,
-- connection options, ALTER ROLE ... SET)
CREATE ROLE zz_daemon LOGIN IN ROLE zyzzyva_sidecar;
-- it may set the entrustment at connection start, as the sidecar does
\c "dbname=zz_authz user=zz_daemon options='-c zyzzyva.entrust=0:zz_alice -c zyzzyva.cluster_f=1'"
SELECT current_user, current_setting('zyzzyva.entrust') AS entrust, rolsuper
  FROM pg_roles WHERE rolname = current_user;
SELECT last_seq FROM zyzzyva.replica_state;
SELECT * FROM batch(12, 20, ARRAY[call_as('zz_alice', 'public.pay(integer,integer)', '1', '1')], ARRAY[0]);
SELECT zyzzyva.state_digest() IS NOT NULL AS digest, zyzzyva.verify_digest();
SELECT zyzzyva.rollback_to(11);
SELECT * FROM batch(12, 20, ARRAY[call_as('zz_alice', 'public.pay(integer,integer)', '1', '2')], ARRAY[0]);
SELECT zyzzyva.mark_stable(12);
SELECT length(zyzzyva.snapshot(12)) > 0 AS snapshot;
SELECT zyzzyva.set_condition('normal');
-- but nothing else
SELECT * FROM acct;
SELECT zyzzyva.replicate_table('acct');
\c "dbname=zz_authz"
DROP ROLE zz_daemon;

-- monitoring is for zyzzyva_monitor, not PUBLIC: an ordinary role reads
-- neither the status nor the sidecar's addresses nor the DDL history
CREATE ROLE zz_watcher IN ROLE zyzzyva_monitor;
SET ROLE zz_alice;
SELECT count(*) FROM zyzzyva.replicated_functions;
SELECT count(*) FROM zyzzyva.status;
SELECT count(*) FROM zyzzyva.ddl_history;
SELECT count(*) FROM zyzzyva.peers;
SELECT count(*) FROM zyzzyva.sidecar;
SELECT count(*) FROM zyzzyva.request_stats;
SELECT count(*) FROM zyzzyva.sidecar_status();
SELECT count(*) FROM zyzzyva.schema_items;
SELECT zyzzyva.state_digest() IS NOT NULL;
SELECT zyzzyva.apply_batch(6, 0, h(6), 0, 0, '\x00000000');
SELECT zyzzyva.replicated_ddl('CREATE TABLE t ()');
SET ROLE zz_watcher;
SELECT last_applied_seq FROM zyzzyva.status;
SELECT count(*) FROM zyzzyva.ddl_history;
SELECT count(*) FROM zyzzyva.schema_items;
SELECT count(*) FROM zyzzyva.peers;         -- allowed; no sidecar here
SELECT zyzzyva.apply_batch(6, 0, h(6), 0, 0, '\x00000000');
RESET ROLE;
DROP ROLE zz_watcher;

\c contrib_regression
DROP DATABASE zz_authz;
DROP ROLE zz_mallory;
DROP ROLE zz_alice;
DROP ROLE zz_bob;
DROP ROLE zz_carol;
DROP ROLE zz_root;
