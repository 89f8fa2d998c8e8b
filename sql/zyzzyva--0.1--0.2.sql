/* sql/zyzzyva--0.1--0.2.sql: zyzzyva 0.1 to 0.2 */

\echo Use "ALTER EXTENSION zyzzyva UPDATE TO '0.2'" to load this file. \quit

-- CREATE EXTENSION zyzzyva installs 0.1 (sql/zyzzyva--0.1.sql) and runs
-- this script after it: there is no zyzzyva--0.2.sql.  So one file says
-- what 0.2 adds, for new databases and for databases that update alike,
-- and sql/zyzzyva--0.1.sql stays as 0.1 shipped.  Everything here must
-- run as well on a 0.1 database that has already replicated batches.
-- The shared library serves both versions: a C symbol that 0.1's SQL
-- names keeps its meaning.

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
