/* sql/zyzzyva--0.1--0.2.sql: zyzzyva 0.1 to 0.2 */

\echo Use "ALTER EXTENSION zyzzyva UPDATE TO '0.2'" to load this file. \quit

-- CREATE EXTENSION zyzzyva installs 0.1 (sql/zyzzyva--0.1.sql) and runs
-- this script after it: there is no zyzzyva--0.2.sql.  So one file says
-- what 0.2 adds, for new databases and for databases that update alike,
-- and sql/zyzzyva--0.1.sql stays as 0.1 shipped.  Everything here must
-- run as well on a 0.1 database that has already replicated batches.
-- The shared library serves both versions: a C symbol that 0.1's SQL
-- names keeps its meaning.

-- ---- divergence inspection (extension/inspect.c) ----
-- What sidecar/tools/zyzzyva-diverge compares across replicas to name the
-- first batch whose effects differ and the rows that differ, by hashes,
-- without shipping rows.  The summaries say no more than state_digest();
-- a row's key and hashes need SELECT on its table (see inspect.c).
CREATE FUNCTION zyzzyva.batch_summary()
    RETURNS TABLE (seq bigint, view bigint, history bytea, requests_hash bytea,
                   replies_hash bytea, changes bigint, effects_hash bytea)
    AS 'MODULE_PATHNAME', 'zyzzyva_batch_summary' LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.batch_summary() IS
    'per batch since the stable checkpoint: history, hashes of its requests, replies and row changes';
CREATE FUNCTION zyzzyva.batch_effects(first bigint, last bigint)
    RETURNS TABLE (seq bigint, request integer, ord integer, table_name text, action text,
                   key text, key_hash bytea, before_hash bytea, after_hash bytea)
    AS 'MODULE_PATHNAME', 'zyzzyva_batch_effects' LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.batch_effects(bigint, bigint) IS
    'row changes of batches first..last: table, key and row hashes (key and hashes only for tables the caller may read)';
CREATE FUNCTION zyzzyva.table_digests()
    RETURNS TABLE (table_name text, row_count bigint, digest bytea)
    AS 'MODULE_PATHNAME', 'zyzzyva_table_digests' LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.table_digests() IS
    'per replicated table: row count and SHA-256 of the LtHash of its rows';
CREATE FUNCTION zyzzyva.row_hashes(rel regclass)
    RETURNS TABLE (key text, key_hash bytea, row_hash bytea)
    AS 'MODULE_PATHNAME', 'zyzzyva_row_hashes' LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.row_hashes(regclass) IS
    'every row of a replicated table the caller may read: key, key hash, row hash';
REVOKE EXECUTE ON FUNCTION zyzzyva.batch_summary(), zyzzyva.batch_effects(bigint, bigint),
                           zyzzyva.table_digests(), zyzzyva.row_hashes(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION zyzzyva.batch_summary(), zyzzyva.batch_effects(bigint, bigint),
                          zyzzyva.table_digests(), zyzzyva.row_hashes(regclass) TO zyzzyva_monitor;
-- ---- schema evolution (replicated DDL, extension/ddl_evolve.c) ----
-- A replicated DDL request may now alter, rename, drop, replace and grant
-- on objects that exist; each records an undo action of its own (target:
-- a JSON object), so the list of actions is checked in C (ddl.c).
ALTER TABLE zyzzyva.undo_log DROP CONSTRAINT IF EXISTS undo_log_action_check;
-- The schema history: who ran each request and at which batch time, so a
-- replica that missed it can run it again (state transfer, ddl_transfer.c).
ALTER TABLE zyzzyva.ddl_log ADD COLUMN role name, ADD COLUMN nd_time bigint;
-- requests a 0.1 database applied did not keep their role: name the
-- extension's owner, the same on every replica (a replica that runs them
-- again in a state transfer runs them as that role)
UPDATE zyzzyva.ddl_log SET role = (SELECT pg_catalog.pg_get_userbyid(nspowner)
                                     FROM pg_catalog.pg_namespace WHERE nspname = 'zyzzyva'),
                           nd_time = 0
 WHERE role IS NULL;
CREATE OR REPLACE VIEW zyzzyva.ddl_history AS
    SELECT seq, request, sql, role FROM zyzzyva.ddl_log;
COMMENT ON FUNCTION zyzzyva.replicated_ddl(text) IS
    'run schema changes (CREATE, ALTER TABLE, RENAME, DROP, CREATE OR REPLACE FUNCTION, GRANT/REVOKE, row writes, replicate_table/replicate_function) as a replicated request, once f+1 replicas proposed it: every replica applies it at the same point in the order; a rollback undoes it exactly (docs/ddl.md)';
-- ---- sequences ----
-- The state of every replicated sequence (extension/sequence.c): a
-- replicated table of the extension, like ddl_proposal, so that it is in
-- the digest, undone with a rolled-back batch and carried by state
-- transfer.  apply_batch() sets each sequence back to its row before a
-- batch and writes the row after it; a sequence is replicated with the
-- replicated table that owns it (serial, identity, OWNED BY) or by
-- zyzzyva.replicate_sequence().
CREATE TABLE zyzzyva.sequence_state (
    schema_name   name NOT NULL,
    sequence_name name NOT NULL,
    last_value    bigint NOT NULL,
    is_called     boolean NOT NULL,
    PRIMARY KEY (schema_name, sequence_name)
);
INSERT INTO zyzzyva.table_registry VALUES ('zyzzyva', 'sequence_state');
CREATE TRIGGER zyzzyva_guard
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON zyzzyva.sequence_state
    FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.guard();
CREATE TRIGGER zyzzyva_capture AFTER INSERT OR UPDATE OR DELETE ON zyzzyva.sequence_state
    FOR EACH ROW EXECUTE FUNCTION zyzzyva.capture();
ALTER TABLE zyzzyva.sequence_state
    ENABLE ALWAYS TRIGGER zyzzyva_guard,
    ENABLE ALWAYS TRIGGER zyzzyva_capture;

-- The parameters of every replicated sequence, as the state digest sees
-- them (with zyzzyva.schema_items): type, start, increment, bounds, cache,
-- cycle, the column that owns it, owner and privileges.
CREATE VIEW zyzzyva.sequence_items AS
    SELECT 'sequence'::text AS kind, r.q AS identity,
           coalesce((SELECT pg_catalog.concat_ws(' ',
                        'type', pg_catalog.format_type(s.seqtypid, NULL),
                        'start', s.seqstart, 'increment', s.seqincrement,
                        'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache,
                        'cycle', s.seqcycle,
                        'owned by', (SELECT pg_catalog.quote_ident(tn.nspname) OPERATOR(pg_catalog.||) '.'
                                            OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.relname)
                                            OPERATOR(pg_catalog.||) '.'
                                            OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname)
                                            OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) d.deptype::pg_catalog.text
                                       FROM pg_catalog.pg_depend d
                                       JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) d.refobjid
                                       JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
                                       JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid
                                                                     AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid
                                      WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                                        AND d.objid OPERATOR(pg_catalog.=) s.seqrelid
                                        AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                                        AND d.deptype IN ('a', 'i') LIMIT 1),
                        zyzzyva.object_privileges(s.seqrelid, true))
                       FROM pg_catalog.pg_sequence s
                      WHERE s.seqrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(r.q)),
                    '(missing)') AS definition
      FROM (SELECT pg_catalog.quote_ident(schema_name) OPERATOR(pg_catalog.||) '.'
                   OPERATOR(pg_catalog.||) pg_catalog.quote_ident(sequence_name) AS q
              FROM zyzzyva.sequence_state) AS r;
GRANT SELECT ON zyzzyva.sequence_items TO zyzzyva_monitor;

-- The replicated sequences and their replicated state.
CREATE VIEW zyzzyva.replicated_sequences AS
    SELECT s.schema_name, s.sequence_name,
           pg_catalog.to_regclass(pg_catalog.quote_ident(s.schema_name) OPERATOR(pg_catalog.||) '.'
                                  OPERATOR(pg_catalog.||) pg_catalog.quote_ident(s.sequence_name)) AS sequence,
           s.last_value, s.is_called
      FROM zyzzyva.sequence_state s;

CREATE FUNCTION zyzzyva.replicate_sequence(seq regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'zyzzyva_replicate_sequence' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.replicate_sequence(regclass) IS
    'make a sequence replicated (in a replicated DDL request, or by hand on every replica); the sequences of serial and identity columns are replicated with their table';
REVOKE EXECUTE ON FUNCTION zyzzyva.replicate_sequence(regclass) FROM PUBLIC;
GRANT SELECT ON zyzzyva.replicated_sequences TO PUBLIC;

-- ---- errors ----
-- A request's error reply carries the function's DETAIL and HINT
-- (extension/zzwire.h, reply kind 'F'); this reads them.
CREATE FUNCTION zyzzyva.decode_reply_error(reply bytea, OUT sqlstate text, OUT message text,
                                           OUT detail text, OUT hint text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'zyzzyva_decode_reply_error' LANGUAGE C STRICT IMMUTABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.decode_reply_error(bytea) IS
    'read a reply: SQLSTATE, message, DETAIL and HINT of an error (''00000'' and NULLs for a value)';
GRANT EXECUTE ON FUNCTION zyzzyva.decode_reply_error(bytea) TO PUBLIC;
-- ---- dump, restore and adopting existing data ----
--
-- What pg_dump keeps (docs/operations.md).  A dump of a replicated
-- database carries the registry: which tables and functions are
-- replicated.  It does not carry the replica's place in its cluster's
-- history: the position, the stable checkpoint and its proof, the commit
-- certificate and the digest lanes (replica_state), the batch log, the
-- undo log (whose rows name tables by local OID, which a restore changes),
-- the schema history (ddl_log) and the pending DDL proposals (ddl_proposal,
-- replicated state that only replication may write).  A restored database
-- is therefore a replica at batch 0 with rows: after zyzzyva.adopt() has
-- recomputed its digest from its rows it either joins its old cluster as
-- a fresh replica (the others bring it up to date by state transfer), or,
-- restored alike on every replica, starts a new cluster.
-- The rows the extension script itself makes (the registration of
-- zyzzyva.ddl_proposal) are left out: CREATE EXTENSION makes them again.
SELECT pg_catalog.pg_extension_config_dump('zyzzyva.function_registry',
                                           'WHERE schema_name OPERATOR(pg_catalog.<>) ''zyzzyva''');
SELECT pg_catalog.pg_extension_config_dump('zyzzyva.table_registry',
                                           'WHERE schema_name OPERATOR(pg_catalog.<>) ''zyzzyva''');

-- Whether the registry was loaded from outside the extension (pg_restore
-- COPYs it) and the digest not yet recomputed: one row.  Until
-- zyzzyva.adopt() runs, the restore's own statements on replicated tables
-- (primary keys, the guard and capture triggers, foreign keys, grants)
-- are not refused as changes outside replication.  Local, not replicated,
-- not dumped.
CREATE TABLE zyzzyva.adoption (
    id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    pending     boolean NOT NULL DEFAULT false,
    pending_since timestamptz,
    adopted_at  timestamptz,
    adopted_tables integer,
    adopted_rows bigint
);
INSERT INTO zyzzyva.adoption DEFAULT VALUES;

CREATE FUNCTION zyzzyva.registry_loaded() RETURNS trigger
    AS 'MODULE_PATHNAME', 'zyzzyva_registry_loaded' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
CREATE TRIGGER registry_loaded
    AFTER INSERT ON zyzzyva.function_registry
    FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.registry_loaded();
CREATE TRIGGER registry_loaded
    AFTER INSERT ON zyzzyva.table_registry
    FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.registry_loaded();
ALTER TABLE zyzzyva.function_registry ENABLE ALWAYS TRIGGER registry_loaded;
ALTER TABLE zyzzyva.table_registry ENABLE ALWAYS TRIGGER registry_loaded;

-- Existing data (extension/adopt.c): register existing tables (with their
-- rows) and functions as replicated, locally, in a database that has not
-- applied a batch yet; and finish a restored database: recompute the
-- digest lanes from the rows of every replicated table, reinstall missing
-- guard and capture triggers, clear adoption.pending.  One row per table
-- digested or function registered.
CREATE FUNCTION zyzzyva.adopt(tables regclass[] DEFAULT '{}',
                              functions regprocedure[] DEFAULT '{}')
    RETURNS TABLE (kind text, identity text, rows bigint, bytes bigint,
                   seconds double precision)
    AS 'MODULE_PATHNAME', 'zyzzyva_adopt' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.adopt(regclass[], regprocedure[]) IS
    'before a replica''s first batch: make existing tables (with their rows) and functions replicated, and recompute the digest of a restored database; returns what it digested (rows, bytes on disk, seconds)';

REVOKE EXECUTE ON FUNCTION zyzzyva.adopt(regclass[], regprocedure[]),
                          zyzzyva.registry_loaded() FROM PUBLIC;
GRANT SELECT ON zyzzyva.adoption TO zyzzyva_monitor;

-- ---- restart with the history (sidecar/core/reinstate.c) ----
-- The ORDER-REQ by which each applied batch above the stable checkpoint
-- was ordered, as the sidecar's core accepted it (signed by the primary
-- of its view, with the requests and their authenticators).  The sidecar
-- writes it with keep_order() in the transaction that applies the batch;
-- after a restart it hands the rows back to its core, which checks them
-- again and takes them back as its history, instead of rolling the
-- database back to the stable checkpoint (docs/durability.md).  Local to
-- this replica, like batch_log: not in the digest, not transferred.
CREATE TABLE zyzzyva.batch_order (
    seq       bigint PRIMARY KEY,
    view      bigint NOT NULL,
    order_req bytea NOT NULL
);

-- Keep the ORDER-REQ of the batch just applied in this transaction (seq
-- must be the last applied batch; anything else is ignored), and drop the
-- rows it replaces or that the stable checkpoint made useless.
CREATE FUNCTION zyzzyva.keep_order(seq bigint, view bigint, order_req bytea)
    RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DELETE FROM zyzzyva.batch_order AS o
     WHERE o.seq OPERATOR(pg_catalog.>=) $1
        OR o.seq OPERATOR(pg_catalog.<=) (SELECT s.stable_seq FROM zyzzyva.replica_state AS s
                                            WHERE s.id OPERATOR(pg_catalog.=) 1);
    INSERT INTO zyzzyva.batch_order
    SELECT $1, $2, $3 FROM zyzzyva.replica_state AS s
     WHERE s.id OPERATOR(pg_catalog.=) 1 AND s.last_seq OPERATOR(pg_catalog.=) $1;
$$;
COMMENT ON FUNCTION zyzzyva.keep_order(bigint, bigint, bytea) IS
    'sidecar only: keep the signed ORDER-REQ of the batch just applied, for a restart with the history';
REVOKE EXECUTE ON FUNCTION zyzzyva.keep_order(bigint, bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION zyzzyva.keep_order(bigint, bigint, bytea) TO zyzzyva_sidecar;
GRANT SELECT ON zyzzyva.batch_order TO zyzzyva_sidecar;
-- ---- chunked state transfer (extension/transfer_chunk.c) ----
-- A checkpoint's rows served and installed in bounded chunks instead of
-- one snapshot: a manifest first (the chunks' LtHash contributions and the
-- schema history, checked against the certified digest before any row),
-- then each chunk, checked against its manifest entry as it arrives
-- (docs/transfer.md).  The sidecar uses them when they exist; a 0.1
-- database keeps snapshot() and install_snapshot().
CREATE FUNCTION zyzzyva.snapshot_open(seq bigint, chunk_bytes integer) RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_snapshot_open' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.snapshot_open(bigint, integer) IS
    'read the rows of every replicated table as of applied batch seq and return the manifest of their chunks of at most chunk_bytes of row text; snapshot_chunk() then returns the chunks; run both in one REPEATABLE READ transaction';
CREATE FUNCTION zyzzyva.snapshot_chunk() RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_snapshot_chunk' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.snapshot_chunk() IS
    'the next chunk of the snapshot snapshot_open() opened in this transaction; NULL after the last';
CREATE FUNCTION zyzzyva.install_open(seq bigint, history bytea, state_digest bytea,
                                     manifest bytea) RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_install_open' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.install_open(bigint, bytea, bytea, bytea) IS
    'begin installing stable checkpoint seq from chunks: run the schema history this replica lacks, check that the manifest gives state_digest (else SQLSTATE ZZ001) and empty the replicated tables; returns the number of chunks to install';
CREATE FUNCTION zyzzyva.install_chunk(chunk bytea) RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_install_chunk' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.install_chunk(bytea) IS
    'install the next chunk of the checkpoint install_open() began in this transaction if it matches its manifest entry (else SQLSTATE ZZ001); returns its rows';
CREATE FUNCTION zyzzyva.install_close(proof bytea DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_install_close' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.install_close(bytea) IS
    'finish the chunked install: every chunk came and the rows read back as the manifest; seq becomes the last applied batch and the stable checkpoint; returns the rows installed';
REVOKE EXECUTE ON FUNCTION zyzzyva.snapshot_open(bigint, integer), zyzzyva.snapshot_chunk(),
                          zyzzyva.install_open(bigint, bytea, bytea, bytea),
                          zyzzyva.install_chunk(bytea), zyzzyva.install_close(bytea)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION zyzzyva.snapshot_open(bigint, integer), zyzzyva.snapshot_chunk(),
                          zyzzyva.install_open(bigint, bytea, bytea, bytea),
                          zyzzyva.install_chunk(bytea), zyzzyva.install_close(bytea)
    TO zyzzyva_sidecar;

-- The progress of the state transfer this replica serves or installs, as
-- its sidecar reports it (zyzzyva.set_transfer_progress): a table of its
-- own, not replica_state, whose row an install holds locked to its end.
CREATE TABLE zyzzyva.transfer_progress (
    id          integer PRIMARY KEY CHECK (id = 1),
    role        text NOT NULL,             -- 'installing' or 'serving'
    peer        integer NOT NULL,          -- the replica served or fetched from
    seq         bigint NOT NULL,           -- the checkpoint
    chunks_done bigint NOT NULL, chunks_total bigint NOT NULL,
    rows_done   bigint NOT NULL, rows_total   bigint NOT NULL,
    bytes_done  bigint NOT NULL, bytes_total  bigint NOT NULL,
    state       text NOT NULL,             -- 'running', 'done', 'failed'
    updated_at  timestamptz NOT NULL DEFAULT now()   -- local clock
);
CREATE FUNCTION zyzzyva.set_transfer_progress(role text, peer integer, seq bigint,
        chunks_done bigint, chunks_total bigint, rows_done bigint, rows_total bigint,
        bytes_done bigint, bytes_total bigint, state text) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO zyzzyva.transfer_progress AS p VALUES (1, role, peer, seq, chunks_done,
        chunks_total, rows_done, rows_total, bytes_done, bytes_total, state, now())
    ON CONFLICT (id) DO UPDATE SET role = excluded.role, peer = excluded.peer,
        seq = excluded.seq, chunks_done = excluded.chunks_done,
        chunks_total = excluded.chunks_total, rows_done = excluded.rows_done,
        rows_total = excluded.rows_total, bytes_done = excluded.bytes_done,
        bytes_total = excluded.bytes_total, state = excluded.state, updated_at = now() $$;
COMMENT ON FUNCTION zyzzyva.set_transfer_progress(text, integer, bigint, bigint, bigint,
        bigint, bigint, bigint, bigint, text) IS
    'record the progress of the state transfer the sidecar serves or installs (zyzzyva.status shows it)';
REVOKE EXECUTE ON FUNCTION zyzzyva.set_transfer_progress(text, integer, bigint, bigint, bigint,
        bigint, bigint, bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION zyzzyva.set_transfer_progress(text, integer, bigint, bigint, bigint,
        bigint, bigint, bigint, bigint, text) TO zyzzyva_sidecar;
-- zyzzyva.status as in 0.1, with the transfer's progress at the end
CREATE OR REPLACE VIEW zyzzyva.status AS
    SELECT s.last_seq AS last_applied_seq,
           s.view AS last_applied_view,
           s.last_history,
           s.stable_seq,
           s.stable_history,
           s.stable_digest,
           s.max_cc_seq,
           zyzzyva.state_digest() AS state_digest,
           (SELECT count(*) FROM zyzzyva.batch_log) AS logged_batches,
           (SELECT count(*) FROM zyzzyva.undo_log) AS undo_records,
           s.condition,
           s.condition_detail,
           s.condition_since,
           s.transfers_installed,
           s.last_transfer_seq,
           s.last_transfer_at,
           p.role AS transfer_role,
           p.state AS transfer_state,
           p.seq AS transfer_seq,
           p.peer AS transfer_peer,
           p.chunks_done AS transfer_chunks_done, p.chunks_total AS transfer_chunks_total,
           p.rows_done AS transfer_rows_done, p.rows_total AS transfer_rows_total,
           p.bytes_done AS transfer_bytes_done, p.bytes_total AS transfer_bytes_total,
           p.updated_at AS transfer_updated_at
      FROM zyzzyva.replica_state s LEFT JOIN zyzzyva.transfer_progress p ON p.id = 1;
