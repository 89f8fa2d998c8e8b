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
