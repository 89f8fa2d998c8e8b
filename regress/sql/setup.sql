--
-- setup: the extension installs, reserves its settings, and starts empty.
--
CREATE EXTENSION zyzzyva;

-- settings under zyzzyva.*; the prefix is reserved, so a misspelt
-- setting is an error rather than a silent placeholder
SHOW zyzzyva.call_timeout;
SET zyzzyva.call_timeout = '5s';
SHOW zyzzyva.call_timeout;
SET zyzzyva.call_timeout = -1;
RESET zyzzyva.call_timeout;
-- the sidecar's socket: none by default; a superuser setting, which may
-- differ per database (each database is replicated by its own sidecar)
SHOW zyzzyva.socket_path;
SET zyzzyva.socket_path = '/tmp/x';
SHOW zyzzyva.socket_path;
RESET zyzzyva.socket_path;
CREATE ROLE zz_plain;
SET ROLE zz_plain;
SET zyzzyva.socket_path = '/tmp/x';
RESET ROLE;
DROP ROLE zz_plain;
SET zyzzyva.call_timout = 10;

-- a fresh replica: nothing applied, and the digest of the empty state:
-- 2048 zero lanes and the schema of zyzzyva.ddl_proposal, the one table of
-- replicated state every replica has (SHA-256("zyzzyva-state-v1" NUL, 2048
-- zero bytes) before that table existed, computed with Python's hashlib)
SELECT last_applied_seq, last_applied_view, stable_seq, max_cc_seq,
       logged_batches, undo_records, encode(state_digest, 'hex') AS state_digest
  FROM zyzzyva.status;
SELECT zyzzyva.verify_digest();

-- the deterministic inputs exist only inside replicated execution
SELECT zyzzyva.now();
SELECT zyzzyva.random();

-- the triggers cannot be called as functions
SELECT zyzzyva.capture();

-- known answers for the row digest, computed independently with the
-- openssl command line: each row's lanes are the AES-256-CTR keystream
-- (IV zero) keyed by SHA-256("zyzzyva-row-v1" NUL "public.kat" NUL row-text);
-- a table's lanes are their sum modulo 2^16, lane by lane
CREATE DATABASE zz_kat TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_kat
CREATE EXTENSION zyzzyva;
CREATE TABLE kat (id integer PRIMARY KEY, v text);
INSERT INTO kat VALUES (1, 'hello, world');
CREATE FUNCTION kat_put(i integer) RETURNS void LANGUAGE sql AS $$ INSERT INTO kat VALUES (i, NULL) $$;
SELECT zyzzyva.replicate_table('kat'), zyzzyva.replicate_function('kat_put(integer)');
-- one row, (1,"hello, world")
SELECT encode(sha256(lanes), 'hex') FROM zyzzyva.replica_state;
-- two rows, after a batch adds (2,)
SELECT count(*) FROM zyzzyva.apply_batch(1, 0, sha256(''), 0, 0,
    zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('public.kat_put(integer)', '2')]));
SELECT encode(sha256(lanes), 'hex') FROM zyzzyva.replica_state;
-- and one row again after rolling the batch back
SELECT zyzzyva.rollback_to(0);
SELECT encode(sha256(lanes), 'hex') FROM zyzzyva.replica_state;
\c contrib_regression
DROP DATABASE zz_kat;
