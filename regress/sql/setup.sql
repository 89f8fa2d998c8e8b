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
SHOW zyzzyva.socket_path;
SET zyzzyva.socket_path = '/tmp/x';
SET zyzzyva.call_timout = 10;

-- a fresh replica: nothing applied, and the digest of the empty state:
-- SHA-256("zyzzyva-state-v1" NUL, 2048 zero bytes), computed independently
-- with Python's hashlib
SELECT last_applied_seq, last_applied_view, stable_seq, max_cc_seq,
       logged_batches, undo_records, encode(state_digest, 'hex') AS state_digest
  FROM zyzzyva.status;
SELECT zyzzyva.verify_digest();

-- the deterministic inputs exist only inside replicated execution
SELECT zyzzyva.now();
SELECT zyzzyva.random();

-- the triggers cannot be called as functions
SELECT zyzzyva.capture();
