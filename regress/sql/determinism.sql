--
-- determinism: replicated functions read the primary's time and seed
-- through zyzzyva.now() and zyzzyva.random(); the known nondeterministic
-- calls are refused during replicated execution.
--
\pset null '(null)'

CREATE TABLE events (id integer PRIMARY KEY, at timestamptz DEFAULT now(), x double precision);
SELECT zyzzyva.replicate_table('events');
CREATE SEQUENCE tickets;
CREATE VIEW recent_events AS SELECT * FROM events WHERE at > now() - interval '1 day';

CREATE FUNCTION stamp(i integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r1 double precision := zyzzyva.random();
    r2 double precision := zyzzyva.random();
BEGIN
    INSERT INTO events VALUES (i, zyzzyva.now(), r1);
    RETURN format('%s distinct=%s in_range=%s', zyzzyva.now(), r1 <> r2,
                  r1 >= 0 AND r1 < 1 AND r2 >= 0 AND r2 < 1);
END $$;
CREATE FUNCTION use_now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RETURN now(); END $$;
CREATE FUNCTION use_clock() RETURNS timestamptz LANGUAGE sql AS $$ SELECT clock_timestamp() $$;
CREATE FUNCTION use_current_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT CURRENT_TIMESTAMP $$;
CREATE FUNCTION use_current_date() RETURNS date LANGUAGE plpgsql AS $$ BEGIN RETURN CURRENT_DATE; END $$;
CREATE FUNCTION use_random() RETURNS double precision LANGUAGE plpgsql AS $$ BEGIN RETURN random(); END $$;
CREATE FUNCTION use_uuid() RETURNS uuid LANGUAGE sql AS $$ SELECT gen_random_uuid() $$;
CREATE FUNCTION use_nextval() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('tickets') $$;
CREATE FUNCTION use_pid() RETURNS integer LANGUAGE sql AS $$ SELECT pg_backend_pid() $$;
CREATE FUNCTION use_txid() RETURNS bigint LANGUAGE sql AS $$ SELECT txid_current() $$;
CREATE FUNCTION use_default(i integer) RETURNS void LANGUAGE sql AS $$ INSERT INTO events (id) VALUES (i) $$;
CREATE FUNCTION use_view() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM recent_events $$;
CREATE FUNCTION use_sublink() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM events WHERE at < statement_timestamp());
END $$;
-- before they are replicated they run here as usual, and this session
-- caches their plans: replicated execution must not reuse those unchecked
-- (once replicated, a call outside replicated execution goes through the
-- sidecar instead: see call.sql)
SELECT use_now() IS NOT NULL AS now_ok, use_random() IS NOT NULL AS random_ok,
       use_current_date() IS NOT NULL AS date_ok;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY[
    'stamp(integer)', 'use_now()', 'use_clock()', 'use_current_timestamp()',
    'use_current_date()', 'use_random()', 'use_uuid()', 'use_nextval()', 'use_pid()',
    'use_txid()', 'use_default(integer)', 'use_view()', 'use_sublink()']::regprocedure[]) AS f;


SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000000123456, 77, zyzzyva.encode_batch(ARRAY[
    call('public.stamp(integer)', '1'),
    call('public.use_now()'),
    call('public.use_clock()'),
    call('public.use_current_timestamp()'),
    call('public.use_current_date()'),
    call('public.use_random()'),
    call('public.use_uuid()'),
    call('public.use_nextval()'),
    call('public.use_pid()'),
    call('public.use_txid()'),
    call('public.use_default(integer)', '2'),
    call('public.use_view()'),
    call('public.use_sublink()'),
    call('public.stamp(integer)', '3')]));

-- zyzzyva.now() is the batch's nd_time (microseconds after the Unix
-- epoch); zyzzyva.random() is derived from nd_seed, the sequence number,
-- the request's position and the call's count.  Expected values computed
-- independently: the first 53 bits of SHA-256(seed, seq, count, position).
SELECT id, at AT TIME ZONE 'UTC' AS at_utc, x FROM events ORDER BY id;
SELECT zyzzyva.verify_digest();
-- the sequence was not touched
SELECT last_value, is_called FROM tickets;

-- issue 12: what replicated execution may call is an allowlist.  The
-- clock's input literals ('now', 'today', 'tomorrow', 'yesterday': the
-- parser folds them into constants, each replica its own), the functions
-- that read this server's environment, volatile built-ins not on the
-- list, and functions in C or other languages not named in
-- zyzzyva.allowed_functions are refused; what stays allowed still runs.
CREATE FUNCTION lit_now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN RETURN 'now'::timestamptz; END $$;
CREATE FUNCTION lit_today() RETURNS date LANGUAGE plpgsql AS $$ DECLARE d date := 'today'; BEGIN RETURN d; END $$;
CREATE FUNCTION lit_tomorrow() RETURNS timestamp LANGUAGE plpgsql AS $$ BEGIN RETURN timestamp 'Tomorrow 10:00'; END $$;
CREATE FUNCTION lit_yesterday() RETURNS boolean LANGUAGE sql AS $$ SELECT EXISTS (SELECT 1 FROM events WHERE at > 'yesterday') $$;
CREATE FUNCTION lit_fixed() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN ('2024-02-29 12:00:00+00'::timestamptz + interval '1 day')::text
        || ' ' || date_trunc('month', '2024-02-29'::timestamptz)::text
        || ' ' || to_char('2024-02-29'::date, 'Dy') || ' ' || 'now'::text;
END $$;
CREATE FUNCTION arg_time(t timestamptz) RETURNS text LANGUAGE sql AS $$ SELECT t::text $$;
CREATE FUNCTION use_setting() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('port') $$;
CREATE FUNCTION use_version() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN version(); END $$;
CREATE FUNCTION use_port() RETURNS integer LANGUAGE sql AS $$ SELECT inet_server_port() $$;
CREATE FUNCTION use_database() RETURNS name LANGUAGE sql AS $$ SELECT current_database() $$;
CREATE FUNCTION use_size() RETURNS bigint LANGUAGE sql AS $$ SELECT pg_relation_size('events') $$;
CREATE FUNCTION use_txid_status() RETURNS text LANGUAGE sql AS $$ SELECT txid_status(1) $$;
CREATE FUNCTION use_volatile() RETURNS text LANGUAGE sql AS $$ SELECT pg_read_file('postgresql.conf') $$;
CREATE FUNCTION c_now() RETURNS timestamptz LANGUAGE c AS 'zyzzyva', 'zyzzyva_now';
CREATE FUNCTION use_c() RETURNS timestamptz LANGUAGE sql AS $$ SELECT c_now() $$;
CREATE FUNCTION use_sleep() RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0); RETURN 'slept'; END $$;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY[
    'lit_now()', 'lit_today()', 'lit_tomorrow()', 'lit_yesterday()', 'lit_fixed()',
    'arg_time(timestamptz)', 'use_setting()', 'use_version()', 'use_port()', 'use_database()',
    'use_size()', 'use_txid_status()', 'use_volatile()', 'c_now()', 'use_c()',
    'use_sleep()']::regprocedure[]) AS f;

SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000000123456, 77, zyzzyva.encode_batch(ARRAY[
    call('public.lit_now()'),
    call('public.lit_today()'),
    call('public.lit_tomorrow()'),
    call('public.lit_yesterday()'),
    call('public.lit_fixed()'),
    call('public.arg_time(timestamp with time zone)', 'now'),
    call('public.arg_time(timestamp with time zone)', ' TODAY '),
    call('public.arg_time(timestamp with time zone)', '2024-02-29 12:00:00+00'),
    call('public.use_setting()'),
    call('public.use_version()'),
    call('public.use_port()'),
    call('public.use_database()'),
    call('public.use_size()'),
    call('public.use_txid_status()'),
    call('public.use_volatile()'),
    call('public.c_now()'),
    call('public.use_c()'),
    call('public.use_sleep()')]));

-- a C function named in zyzzyva.allowed_functions is called
ALTER SYSTEM SET zyzzyva.allowed_functions = 'public.c_now(), public.nonexistent(integer, text)';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000000123456, 77, zyzzyva.encode_batch(ARRAY[
    call('public.use_c()')]));
ALTER SYSTEM RESET zyzzyva.allowed_functions;

-- the per-request budget (zyzzyva.request_timeout): a request that runs
-- longer fails with one fixed error, even one that catches the cancel;
-- the next request of the batch runs as usual
CREATE FUNCTION sleeper(s float8) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (id, at) VALUES (100 + s::integer, zyzzyva.now());
    PERFORM pg_sleep(s);
    RETURN 'woke';
END $$;
CREATE FUNCTION stubborn() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    LOOP
        BEGIN
            PERFORM pg_sleep(10);
        EXCEPTION WHEN query_canceled THEN
            RETURN 'caught the cancel';
        END;
    END LOOP;
END $$;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY[
    'sleeper(double precision)', 'stubborn()']::regprocedure[]) AS f;
ALTER SYSTEM SET zyzzyva.request_timeout = '300ms';
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SHOW zyzzyva.request_timeout;
SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000000123456, 77, zyzzyva.encode_batch(ARRAY[
    call('public.sleeper(double precision)', '5'),
    call('public.stubborn()'),
    call('public.sleeper(double precision)', '0')]));
SELECT id FROM events WHERE id >= 100 ORDER BY id;
ALTER SYSTEM RESET zyzzyva.request_timeout;
SELECT pg_reload_conf();
SELECT zyzzyva.verify_digest();

-- issue 12, guard gaps: what the executor runs without planning a query.
-- (1) A text cast at run time ('now' spelt at run time, a PL/pgSQL
-- DECLARE default) reads the request's clock, which is the batch's time
-- (zyzzyva.now()) on every replica, not this server's.
-- (2) Trigger functions in C, a trigger's WHEN condition and a CHECK
-- constraint of a written table, (3) CALL of a procedure in C or with
-- arguments that read the clock, (4) DO in a language other than
-- PL/pgSQL, (5) system columns (ctid, xmin, tableoid: this replica's own)
-- and (6) a function declared in language internal by a superuser
-- are refused.  Ordinary UPDATE and DELETE (the planner adds ctid itself)
-- and a PL/pgSQL trigger still run.
CREATE FUNCTION rt_now() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w text := 'n' || 'ow';
    d date := 'today';
    t timestamptz;
BEGIN
    t := w::timestamptz;
    RETURN format('%s %s %s %s', t = zyzzyva.now(), t, d, ('tomor' || 'row')::date);
END $$;
CREATE TABLE guarded (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0, at text);
CREATE FUNCTION c_trigger() RETURNS trigger LANGUAGE c AS 'zyzzyva', 'zyzzyva_guard';
CREATE FUNCTION pl_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.n := NEW.n + 1;
    RETURN NEW;
END $$;
CREATE TRIGGER guarded_count BEFORE INSERT OR UPDATE ON guarded
    FOR EACH ROW EXECUTE FUNCTION pl_trigger();
SELECT zyzzyva.replicate_table('guarded');
CREATE TABLE c_triggered (id integer PRIMARY KEY);
CREATE TRIGGER c_fires BEFORE INSERT ON c_triggered FOR EACH ROW EXECUTE FUNCTION c_trigger();
SELECT zyzzyva.replicate_table('c_triggered');
CREATE TABLE when_triggered (id integer PRIMARY KEY);
CREATE TRIGGER when_fires BEFORE INSERT ON when_triggered
    FOR EACH ROW WHEN (random() < 0.5) EXECUTE FUNCTION pl_trigger();
SELECT zyzzyva.replicate_table('when_triggered');
CREATE TABLE checked (id integer PRIMARY KEY, at timestamptz CHECK (at <= clock_timestamp()));
SELECT zyzzyva.replicate_table('checked');
CREATE PROCEDURE c_proc() LANGUAGE c AS 'zyzzyva', 'zyzzyva_now';
CREATE PROCEDURE pl_proc(t timestamptz) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO guarded (id, at) VALUES (extract(epoch FROM t)::integer % 1000, t::text);
END $$;
CREATE FUNCTION ins_guarded(i integer) RETURNS text LANGUAGE sql AS $$
    INSERT INTO guarded (id) VALUES (i);
    UPDATE guarded SET at = 'updated' WHERE id = i;
    DELETE FROM guarded WHERE id = i + 1000;
    SELECT 'ok'
$$;
CREATE FUNCTION ins_c_triggered() RETURNS text LANGUAGE sql AS $$ INSERT INTO c_triggered VALUES (1) RETURNING 'inserted' $$;
CREATE FUNCTION ins_when_triggered() RETURNS text LANGUAGE sql AS $$ INSERT INTO when_triggered VALUES (1) RETURNING 'inserted' $$;
CREATE FUNCTION ins_checked() RETURNS text LANGUAGE sql AS $$ INSERT INTO checked VALUES (1, zyzzyva.now()) RETURNING 'inserted' $$;
CREATE FUNCTION call_c() RETURNS text LANGUAGE plpgsql AS $$ BEGIN CALL c_proc(); RETURN 'called'; END $$;
CREATE FUNCTION call_clock() RETURNS text LANGUAGE plpgsql AS $$ BEGIN CALL pl_proc(clock_timestamp()); RETURN 'called'; END $$;
CREATE FUNCTION call_ok() RETURNS text LANGUAGE plpgsql AS $$ BEGIN CALL pl_proc(zyzzyva.now()); RETURN 'called'; END $$;
CREATE FUNCTION do_sql() RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DO LANGUAGE sql $x$ SELECT 1 $x$'; RETURN 'done'; END $$;
CREATE FUNCTION do_plpgsql() RETURNS text LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DO $x$ BEGIN PERFORM 1; END $x$'; RETURN 'done'; END $$;
CREATE FUNCTION use_xmin() RETURNS text LANGUAGE sql AS $$ SELECT xmin::text FROM guarded ORDER BY id LIMIT 1 $$;
CREATE FUNCTION use_ctid() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT max(ctid)::text FROM guarded); END $$;
CREATE FUNCTION use_tableoid() RETURNS text LANGUAGE sql AS $$ SELECT count(*) FROM events e WHERE e.tableoid > 0 $$;
-- a superuser's "immutable" alias of a built-in is not a built-in
CREATE FUNCTION sneaky_clock() RETURNS timestamptz LANGUAGE internal IMMUTABLE AS 'clock_timestamp';
CREATE FUNCTION use_sneaky_clock() RETURNS text LANGUAGE sql AS $$ SELECT sneaky_clock()::text $$;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY[
    'rt_now()', 'ins_guarded(integer)', 'ins_c_triggered()', 'ins_when_triggered()',
    'ins_checked()', 'call_c()', 'call_clock()', 'call_ok()', 'do_sql()', 'do_plpgsql()',
    'use_xmin()', 'use_ctid()', 'use_tableoid()', 'use_sneaky_clock()']::regprocedure[]) AS f;
SELECT last_applied_seq + 1 AS next FROM zyzzyva.status \gset
SELECT request, sqlstate, result
  FROM zyzzyva.apply_batch(:next, 2, h(:next), 1700000000123456, 77, zyzzyva.encode_batch(ARRAY[
    call('public.rt_now()'),
    call('public.ins_guarded(integer)', '7'),
    call('public.ins_c_triggered()'),
    call('public.ins_when_triggered()'),
    call('public.ins_checked()'),
    call('public.call_c()'),
    call('public.call_clock()'),
    call('public.call_ok()'),
    call('public.do_sql()'),
    call('public.do_plpgsql()'),
    call('public.use_xmin()'),
    call('public.use_ctid()'),
    call('public.use_tableoid()'),
    call('public.use_sneaky_clock()'),
    call('public.lit_today()')]));
SELECT id, n, at FROM guarded ORDER BY id;
SELECT (SELECT count(*) FROM c_triggered) AS c_rows, (SELECT count(*) FROM when_triggered) AS when_rows,
       (SELECT count(*) FROM checked) AS checked_rows;
SELECT zyzzyva.verify_digest();
