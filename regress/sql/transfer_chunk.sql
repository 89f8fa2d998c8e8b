--
-- transfer_chunk: chunked state transfer.  snapshot_open() gives the
-- manifest of a checkpoint's rows cut into chunks, snapshot_chunk() the
-- chunks; install_open(), install_chunk() and install_close() install them
-- in another database, checking the manifest against the certified digest
-- and each chunk against its manifest entry as it arrives.
--
\pset null '(null)'
\getenv abs_srcdir PG_ABS_SRCDIR
\set xfer_setup :abs_srcdir '/sql/transfer_setup.psql'
CREATE DATABASE zz_xfc_a TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE zz_xfc_b TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';

\c zz_xfc_a
\set QUIET on
\i :xfer_setup
\set QUIET off
-- batches 1..4 of transfer.sql, then 80 accounts with long owners in batch 5
CREATE FUNCTION bulk() RETURNS bytea IMMUTABLE LANGUAGE sql AS $$
    SELECT zyzzyva.encode_batch(array_agg(call('public.put(integer,pg_catalog.text,numeric)',
                                               (100 + i)::text, repeat('owner-' || i, 8), i::text)
                                          ORDER BY i))
      FROM generate_series(1, 80) AS i $$;
SELECT apply(1), apply(2), apply(3), apply(4);
SELECT string_agg(sqlstate, ',') FROM zyzzyva.apply_batch(5, 0, h(5), 1700000000000005, 5, bulk());
SELECT zyzzyva.state_digest() AS digest_5 \gset

-- the manifest and the chunks, in one REPEATABLE READ transaction
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT zyzzyva.snapshot_open(5, 1024) AS mani \gset
SELECT array_agg(c ORDER BY n) AS chunks, count(*) AS nchunks
  FROM (SELECT n, zyzzyva.snapshot_chunk() AS c FROM generate_series(1, 100) AS n) AS s
 WHERE c IS NOT NULL \gset
SELECT zyzzyva.snapshot_chunk() IS NULL AS no_more_chunks;
COMMIT;
-- the header: magic, version, seq, chunk size, chunks, rows, bytes
SELECT substr(:'mani'::bytea, 1, 6) = 'ZZMANI'::bytea AS magic, u(:'mani', 6, 2) AS version,
       u(:'mani', 8, 8) AS seq, u(:'mani', 16, 4) AS chunk_bytes,
       u(:'mani', 20, 4) = :nchunks AS nchunks_ok, :nchunks > 5 AS many_chunks,
       u(:'mani', 24, 8) AS rows, u(:'mani', 32, 8) = (SELECT sum(octet_length(a::text)) FROM acct a)
           + (SELECT sum(octet_length(o::text)) FROM "Odd Name" o) AS bytes_ok;
-- every chunk within the limit (1024 bytes of rows, and its framing)
SELECT max(octet_length(c)) AS largest_chunk, min(octet_length(c)) AS smallest_chunk
  FROM unnest(:'chunks'::bytea[]) AS c;
-- outside a REPEATABLE READ transaction, or without an open snapshot
SELECT try('SELECT zyzzyva.snapshot_open(5, 1024)');
SELECT try('SELECT zyzzyva.snapshot_chunk()');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT try('SELECT zyzzyva.snapshot_open(5, 10)');
SELECT try('SELECT zyzzyva.snapshot_open(9, 1024)');
COMMIT;
-- the digest of batch 5 with a trigger that changes a row as it goes in
\set mangle_setup :abs_srcdir '/sql/transfer_mangle.psql'
\set QUIET on
\i :mangle_setup
\set QUIET off
SELECT zyzzyva.state_digest() AS digest_5m \gset

\c zz_xfc_b
\set QUIET on
\i :xfer_setup
\set QUIET off
SELECT apply(1);          -- some state of its own, replaced by the install
CREATE FUNCTION install_all(seq bigint, hist bytea, digest bytea, mani bytea, chunks bytea[])
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    c bytea;
BEGIN
    PERFORM zyzzyva.install_open(seq, hist, digest, mani);
    FOREACH c IN ARRAY chunks LOOP
        PERFORM zyzzyva.install_chunk(c);
    END LOOP;
    RETURN zyzzyva.install_close(NULL);
END $$;
SELECT zyzzyva.state_digest() AS digest_b \gset

-- refusals, each leaving everything as it was
-- a wrong certified digest: refused before any row
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', h(1) , :'mani', :'chunks'));
-- a tampered chunk: refused as it arrives (one byte of a row changed)
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5', :'mani',
       (SELECT array_agg(CASE WHEN i = 3 THEN set_byte(c, octet_length(c) - 2, get_byte(c, octet_length(c) - 2) # 1)
                              ELSE c END ORDER BY i)
          FROM unnest(:'chunks'::bytea[]) WITH ORDINALITY AS t(c, i))));
-- chunks swapped, one left out, one repeated
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5', :'mani',
       (SELECT array_agg(c ORDER BY CASE i WHEN 2 THEN 3 WHEN 3 THEN 2 ELSE i END)
          FROM unnest(:'chunks'::bytea[]) WITH ORDINALITY AS t(c, i))));
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5', :'mani',
       (:'chunks'::bytea[])[1:(:nchunks - 1)]));
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5', :'mani',
       (:'chunks'::bytea[]) || (:'chunks'::bytea[])[:nchunks]));
-- a manifest entry changed: the manifest no longer gives the digest
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5',
       set_byte(:'mani'::bytea, 40, get_byte(:'mani'::bytea, 40) # 1), :'chunks'));
-- malformed manifest
SELECT try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5',
       substr(:'mani'::bytea, 1, 100), :'chunks'));
-- rows that do not read back as they were sent (as a type whose input
-- does not give back its output would): a trigger that fires even while
-- installing changes an owner as it goes in; refused at that chunk.  (The
-- trigger is part of the replicated definitions: both databases have it,
-- and the certified digest is taken with it.)
\set QUIET on
\i :mangle_setup
\set QUIET off
SELECT regexp_replace(try(format('SELECT install_all(5, h(5), %L, %L, %L)', :'digest_5m', :'mani', :'chunks')),
                      'chunk [0-9]+', 'chunk N');
SET zyzzyva.repair_mode = on;
DROP TRIGGER mangle ON acct;
RESET zyzzyva.repair_mode;
DROP FUNCTION mangle();
-- a chunk without an open install
SELECT try(format('SELECT zyzzyva.install_chunk(%L)', (:'chunks'::bytea[])[1]));
SELECT zyzzyva.state_digest() = :'digest_b' AS unchanged, last_applied_seq, transfers_installed
  FROM zyzzyva.status;

-- the right chunks install, and give the certified state
SELECT install_all(5, h(5), :'digest_5', :'mani', :'chunks') AS rows_installed;
SELECT zyzzyva.state_digest() = :'digest_5' AS digest_ok, zyzzyva.verify_digest(),
       (SELECT count(*) FROM acct) AS accounts;
SELECT last_applied_seq, stable_seq, last_history = h(5) AS last_history_ok,
       stable_digest = :'digest_5' AS stable_digest_ok, logged_batches, undo_records,
       transfers_installed, last_transfer_seq
  FROM zyzzyva.status;

-- the progress the sidecar reports
SELECT zyzzyva.set_transfer_progress('installing', 2, 5, 3, 9, 30, 84, 3000, 8000, 'running');
SELECT transfer_role, transfer_state, transfer_seq, transfer_peer, transfer_chunks_done,
       transfer_chunks_total, transfer_rows_done, transfer_rows_total, transfer_bytes_done,
       transfer_bytes_total
  FROM zyzzyva.status;

\c contrib_regression
DROP DATABASE zz_xfc_a;
DROP DATABASE zz_xfc_b;
