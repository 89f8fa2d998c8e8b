--
-- sequences: serial, bigserial and identity columns and nextval(),
-- setval(), currval(), lastval() in replicated execution.  A replicated
-- sequence's state is replicated state: in the digest, rolled back with a
-- speculative batch (PostgreSQL never rolls a sequence back), and set back
-- to it before every batch, whatever happened to the sequence meanwhile.
--
\pset null '(null)'
\getenv abs_srcdir PG_ABS_SRCDIR
\set seq_setup :abs_srcdir '/sql/sequences_setup.psql'
CREATE DATABASE zz_seq TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_seq
\i :seq_setup

-- a bigserial key and an identity column; their sequences are replicated
-- with their tables
CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL);
CREATE TABLE parts (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);
SELECT zyzzyva.replicate_table('orders'), zyzzyva.replicate_table('parts');
SELECT * FROM zyzzyva.replicated_sequences ORDER BY sequence_name;
SELECT kind, identity, definition FROM zyzzyva.sequence_items ORDER BY identity;
SELECT zyzzyva.verify_digest();

CREATE FUNCTION add_order(it text) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO orders (item) VALUES (it) RETURNING id $$;
CREATE FUNCTION add_part(n text) RETURNS integer LANGUAGE sql
    AS $$ INSERT INTO parts (name) VALUES (n) RETURNING id $$;
-- draws a value and fails: the value stays drawn, as in PostgreSQL
CREATE FUNCTION add_order_then_fail(it text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO orders (item) VALUES (it);
    RAISE EXCEPTION 'changed my mind';
END $$;
CREATE FUNCTION draw() RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    n := nextval('orders_id_seq');
    RETURN n || ' ' || currval('orders_id_seq') || ' ' || lastval();
END $$;
CREATE FUNCTION rename_part(i integer, n text) RETURNS text LANGUAGE sql
    AS $$ UPDATE parts SET name = n WHERE id = i RETURNING name $$;
CREATE FUNCTION cur() RETURNS bigint LANGUAGE sql AS $$ SELECT currval('orders_id_seq') $$;
CREATE FUNCTION jump(v bigint) RETURNS bigint LANGUAGE sql
    AS $$ SELECT setval('orders_id_seq', v) $$;
CREATE SEQUENCE loose;
CREATE FUNCTION use_loose() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('loose') $$;
CREATE FUNCTION use_named(s text) RETURNS bigint LANGUAGE plpgsql
    AS $$ BEGIN RETURN nextval(s::regclass); END $$;
SELECT zyzzyva.replicate_function('add_order(text)'), zyzzyva.replicate_function('add_part(text)'),
       zyzzyva.replicate_function('add_order_then_fail(text)'), zyzzyva.replicate_function('draw()'),
       zyzzyva.replicate_function('cur()'), zyzzyva.replicate_function('jump(bigint)'),
       zyzzyva.replicate_function('use_loose()'), zyzzyva.replicate_function('use_named(text)'),
       zyzzyva.replicate_function('rename_part(integer,text)');
SELECT zyzzyva.state_digest() AS digest_0 \gset

-- batch 1: keys come from the sequences; a failed request's value stays
-- drawn; currval() and lastval() see what this request drew, never what an
-- earlier request drew (each request starts as a new session would)
SELECT * FROM apply(1,
    call('public.add_order(pg_catalog.text)', 'apple'),
    call('public.add_part(pg_catalog.text)', 'bolt'),
    call('public.add_order_then_fail(pg_catalog.text)', 'pear'),
    call('public.add_order(pg_catalog.text)', 'plum'),
    call('public.draw()'),
    call('public.cur()'),
    call('public.add_part(pg_catalog.text)', 'nut'));
SELECT * FROM orders ORDER BY id;
SELECT * FROM parts ORDER BY id;
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT zyzzyva.state_digest() <> :'digest_0' AS digest_moved, zyzzyva.verify_digest();
SELECT zyzzyva.state_digest() AS digest_1 \gset

-- a sequence that is not replicated, or not named by a constant, is refused
SELECT * FROM apply(2,
    call('public.use_loose()'),
    call('public.use_named(pg_catalog.text)', 'orders_id_seq'));

-- batch 3 draws values and is rolled back: rows, sequence state and digest
-- go back to batch 2, and the values are drawn again by batch 3' (the
-- update of a row with a GENERATED ALWAYS identity is undone too)
SELECT * FROM apply(3,
    call('public.rename_part(integer,pg_catalog.text)', '1', 'screw'),
    call('public.add_order(pg_catalog.text)', 'fig'),
    call('public.add_part(pg_catalog.text)', 'gear'),
    call('public.jump(bigint)', '500'));
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT zyzzyva.rollback_to(2);
SELECT * FROM parts ORDER BY id;
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT zyzzyva.state_digest() = :'digest_1' AS digest_back, zyzzyva.verify_digest();
SELECT * FROM apply(3,
    call('public.add_order(pg_catalog.text)', 'kiwi'),
    call('public.add_part(pg_catalog.text)', 'cog'));

-- the sequence moved behind replication's back (by hand, or by the jump of
-- 32 values that the WAL of nextval() makes after a crash): the next batch
-- starts from the replicated state all the same
SELECT nextval('orders_id_seq'), nextval('orders_id_seq');
SELECT setval('parts_id_seq', 900);
SELECT * FROM apply(4,
    call('public.add_order(pg_catalog.text)', 'lime'),
    call('public.add_part(pg_catalog.text)', 'pin'));

-- CACHE > 1: each request starts with an empty cache, so values never
-- depend on what one backend cached; the parameters are in the digest
SELECT zyzzyva.state_digest() AS digest_4 \gset
ALTER SEQUENCE orders_id_seq CACHE 10;
SELECT zyzzyva.state_digest() <> :'digest_4' AS parameters_in_digest;
SELECT * FROM apply(5,
    call('public.add_order(pg_catalog.text)', 'date'),
    call('public.add_order(pg_catalog.text)', 'yuzu'));
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
ALTER SEQUENCE orders_id_seq CACHE 1;

-- through replicated DDL: a table with a serial key, created, replicated
-- and written in one request; its sequence is replicated with it, and a
-- rollback takes table, sequence and state away
SELECT * FROM apply(6,
    call('zyzzyva.replicated_ddl(text)', $$
        CREATE TABLE tickets (id serial PRIMARY KEY, what text);
        CREATE SEQUENCE ticket_batch START 100;
        SELECT zyzzyva.replicate_table('tickets');
        SELECT zyzzyva.replicate_sequence('ticket_batch');
        INSERT INTO tickets (what) VALUES ('first');
        CREATE FUNCTION ticket(w text) RETURNS text LANGUAGE sql
            AS 'INSERT INTO tickets (what) VALUES (w) RETURNING id || '' '' || nextval(''ticket_batch'')';
        SELECT zyzzyva.replicate_function('ticket(text)')$$),
    call('public.ticket(pg_catalog.text)', 'second'));
SELECT * FROM tickets ORDER BY id;
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT zyzzyva.verify_digest();
SELECT zyzzyva.rollback_to(5);
SELECT to_regclass('tickets') AS tickets, to_regclass('ticket_batch') AS ticket_batch;
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT zyzzyva.verify_digest();

\c contrib_regression
DROP DATABASE zz_seq;

-- a backend that found no replicated sequence does not read their table
-- again until it changes: the first sequence registered by a DDL request,
-- the rollback that takes it away and the request applied again, and a
-- snapshot installed that carries one are all seen by the next batch (a
-- stale memory would refuse nextval() of the sequence as not replicated)
CREATE DATABASE zz_seq_none TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_seq_none
\i :seq_setup
CREATE TABLE notes (id integer PRIMARY KEY, note text);
SELECT zyzzyva.replicate_table('notes');
CREATE FUNCTION note(i integer, n text) RETURNS integer LANGUAGE sql
    AS $$ INSERT INTO notes VALUES (i, n) RETURNING id $$;
SELECT zyzzyva.replicate_function('note(integer,text)');
SELECT zyzzyva.state_digest() AS digest_n0 \gset
SELECT * FROM apply(1, call('public.note(integer,pg_catalog.text)', '1', 'no sequences'));
SELECT call('zyzzyva.replicated_ddl(text)', $$
        CREATE TABLE tags (id bigserial PRIMARY KEY, tag text);
        SELECT zyzzyva.replicate_table('tags');
        CREATE FUNCTION tag(t text) RETURNS bigint LANGUAGE sql
            AS 'INSERT INTO tags (tag) VALUES (t) RETURNING id';
        SELECT zyzzyva.replicate_function('tag(text)')$$) AS ddl_tags \gset
SELECT * FROM apply(2, :'ddl_tags');
SELECT * FROM apply(3, call('public.tag(pg_catalog.text)', 'a'), call('public.tag(pg_catalog.text)', 'b'));
SELECT zyzzyva.snapshot(3) AS snap_n3, zyzzyva.state_digest() AS digest_n3 \gset
SELECT zyzzyva.rollback_to(1);
SELECT to_regclass('tags') IS NULL AS tags_gone,
       (SELECT count(*) FROM zyzzyva.replicated_sequences) AS sequences;
SELECT * FROM apply(2, :'ddl_tags');
SELECT * FROM apply(3, call('public.tag(pg_catalog.text)', 'a'), call('public.tag(pg_catalog.text)', 'b'));
SELECT zyzzyva.state_digest() = :'digest_n3' AS digest_as_first_time, zyzzyva.verify_digest();
-- a new replica: it applies a batch of its own (no sequences), then
-- installs the snapshot of batch 3, whose rows include the sequence's
\c contrib_regression
CREATE DATABASE zz_seq_none_b TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_seq_none_b
CREATE EXTENSION zyzzyva;
CREATE TABLE notes (id integer PRIMARY KEY, note text);
SELECT zyzzyva.replicate_table('notes');
CREATE FUNCTION note(i integer, n text) RETURNS integer LANGUAGE sql
    AS $$ INSERT INTO notes VALUES (i, n) RETURNING id $$;
SELECT zyzzyva.replicate_function('note(integer,text)');
SELECT request, sqlstate FROM zyzzyva.apply_batch(1, 0, sha256('own'), 1700000000000001, 1,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('public.note(integer,pg_catalog.text)', '7', 'own')]));
SELECT zyzzyva.install_snapshot(3, sha256('3'), :'digest_n3', :'snap_n3') AS rows_installed;
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
SELECT request, sqlstate, result FROM zyzzyva.apply_batch(4, 0, sha256('4'), 1700000000000004, 4,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('public.tag(pg_catalog.text)', 'c')]));
SELECT * FROM tags ORDER BY id;

-- a database on 0.1 has no sequence_state: the library does without it;
-- ALTER EXTENSION UPDATE in the same session is seen by the next batch
-- (the backend's memory of which objects the extension has is dropped)
\c contrib_regression
CREATE DATABASE zz_seq_up TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_seq_up
CREATE EXTENSION zyzzyva VERSION '0.1';
CREATE TABLE counters (id bigserial PRIMARY KEY, n integer);
SELECT zyzzyva.replicate_table('counters');
CREATE FUNCTION bump() RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO counters (n) VALUES (1) RETURNING id $$;
SELECT zyzzyva.replicate_function('bump()');
SELECT request, sqlstate, result FROM zyzzyva.apply_batch(1, 0, sha256('1'), 1700000000000001, 1,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('public.bump()')]));
ALTER EXTENSION zyzzyva UPDATE;
SELECT zyzzyva.replicate_sequence('counters_id_seq');
SELECT request, sqlstate, result FROM zyzzyva.apply_batch(2, 0, sha256('2'), 1700000000000002, 2,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('public.bump()')]));
SELECT sequence_name, last_value, is_called FROM zyzzyva.replicated_sequences ORDER BY 1;
\c contrib_regression
DROP DATABASE zz_seq_none;
DROP DATABASE zz_seq_none_b;
DROP DATABASE zz_seq_up;
