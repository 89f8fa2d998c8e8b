/* sql/zyzzyva--0.1--0.2.sql: zyzzyva 0.1 to 0.2 */

\echo Use "ALTER EXTENSION zyzzyva UPDATE TO '0.2'" to load this file. \quit

-- CREATE EXTENSION zyzzyva installs 0.1 (sql/zyzzyva--0.1.sql) and runs
-- this script after it: there is no zyzzyva--0.2.sql.  So one file says
-- what 0.2 adds, for new databases and for databases that update alike,
-- and sql/zyzzyva--0.1.sql stays as 0.1 shipped.  Everything here must
-- run as well on a 0.1 database that has already replicated batches.
-- The shared library serves both versions: a C symbol that 0.1's SQL
-- names keeps its meaning.

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
