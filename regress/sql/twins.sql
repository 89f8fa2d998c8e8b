--
-- twins: two fresh databases that apply the same batches reach the same
-- state digest and give the same replies; a different function body or
-- rows changed behind the extension's back are detected.
--
\getenv abs_srcdir PG_ABS_SRCDIR
\set twin_setup :abs_srcdir '/sql/twins_setup.psql'
\set twin_batches :abs_srcdir '/sql/twins_batches.psql'

CREATE DATABASE zz_twin_a TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE zz_twin_b TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';

\c zz_twin_a
\i :twin_setup
\i :twin_batches
\set replies_a :replies
SELECT zyzzyva.state_digest() AS digest_a \gset
SELECT k, v, at AT TIME ZONE 'UTC' AS at_utc, r FROM kv ORDER BY k;

\c zz_twin_b
-- a different session time zone and date style change nothing
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'SQL, DMY';
SET extra_float_digits = 0;
\i :twin_setup
\i :twin_batches
SELECT :'replies' = :'replies_a' AS same_replies,
       zyzzyva.state_digest() = :'digest_a' AS same_digest;
SELECT :'replies' AS replies;

-- a different body, same behaviour: the schema part of the digest differs
-- (replicated objects change outside replication only in repair mode)
SET zyzzyva.repair_mode = on;
CREATE OR REPLACE FUNCTION del(key text) RETURNS boolean LANGUAGE sql
    AS $$ DELETE FROM kv WHERE k = key RETURNING 1 = 1 $$;
SELECT zyzzyva.state_digest() = :'digest_a' AS same_digest;
CREATE OR REPLACE FUNCTION del(key text) RETURNS boolean LANGUAGE sql
    AS $$ DELETE FROM kv WHERE k = key RETURNING true $$;
SELECT zyzzyva.state_digest() = :'digest_a' AS same_digest;

-- a row changed behind the extension's back (a superuser disabling its
-- triggers): the incremental digest cannot see it, a full recomputation
-- does
ALTER TABLE kv DISABLE TRIGGER zyzzyva_guard, DISABLE TRIGGER zyzzyva_capture;
UPDATE kv SET v = 'tampered' WHERE k = 'a';
ALTER TABLE kv ENABLE ALWAYS TRIGGER zyzzyva_guard, ENABLE ALWAYS TRIGGER zyzzyva_capture;
RESET zyzzyva.repair_mode;
SELECT zyzzyva.state_digest() = :'digest_a' AS same_digest, zyzzyva.verify_digest();

\c contrib_regression
DROP DATABASE zz_twin_a;
DROP DATABASE zz_twin_b;
