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
