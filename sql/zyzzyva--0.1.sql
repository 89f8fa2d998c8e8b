/* sql/zyzzyva--0.1.sql: the zyzzyva extension, version 0.1 */

\echo Use "CREATE EXTENSION zyzzyva" to load this file. \quit

-- ---------------------------------------------------------------------
-- Registry: what is replicated.  Objects are named, never identified by
-- OID: OIDs differ from one replica to the next.
-- ---------------------------------------------------------------------

-- Replicated functions, by canonical signature: what
-- format_procedure_qualified() prints, e.g. public.transfer(integer,integer,numeric).
CREATE TABLE zyzzyva.function_registry (
    signature     text PRIMARY KEY,
    schema_name   name NOT NULL,
    function_name name NOT NULL
);

-- Every backend keeps the OIDs of the replicated functions, to route their
-- calls through the sidecar (extension/intercept.c); this trigger tells
-- them when the registry changes.  ALWAYS: undo may change it too.
CREATE FUNCTION zyzzyva.registry_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'zyzzyva_registry_changed' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
CREATE TRIGGER registry_changed
    AFTER INSERT OR UPDATE OR DELETE ON zyzzyva.function_registry
    FOR EACH ROW EXECUTE FUNCTION zyzzyva.registry_changed();
CREATE TRIGGER registry_truncated
    AFTER TRUNCATE ON zyzzyva.function_registry
    FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.registry_changed();
ALTER TABLE zyzzyva.function_registry
    ENABLE ALWAYS TRIGGER registry_changed,
    ENABLE ALWAYS TRIGGER registry_truncated;

-- Replicated tables, by schema and name.
CREATE TABLE zyzzyva.table_registry (
    schema_name name NOT NULL,
    table_name  name NOT NULL,
    PRIMARY KEY (schema_name, table_name)
);

-- ---------------------------------------------------------------------
-- Protocol state, written in the same transaction as the batch it
-- describes, so that a crash of either process leaves the two consistent.
-- ---------------------------------------------------------------------

-- The replica's position: one row.
CREATE TABLE zyzzyva.replica_state (
    id             integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_seq       bigint NOT NULL DEFAULT 0,       -- last applied batch
    view           bigint NOT NULL DEFAULT 0,       -- its view
    last_history   bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),  -- its h_n
    stable_seq     bigint NOT NULL DEFAULT 0,       -- stable checkpoint
    stable_history bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    stable_digest  bytea,                           -- agreed state digest
    stable_proof   bytea,                           -- 2f+1 CHECKPOINTs (daemon's encoding)
    max_cc_seq     bigint NOT NULL DEFAULT 0,       -- highest commit certificate
    max_cc         bytea,                           -- (daemon's encoding)
    lanes          bytea NOT NULL DEFAULT decode(repeat('00', 2048), 'hex'),  -- LtHash of all replicated rows
    -- what the sidecar reports of this replica (zyzzyva.set_condition)
    condition        text NOT NULL DEFAULT 'normal'
                     CHECK (condition IN ('normal', 'catching_up', 'state_transfer',
                                          'diverged', 'stalled')),
    condition_detail text,
    condition_since  timestamptz NOT NULL DEFAULT now(),  -- local clock, outside the digest
    -- state transfers installed here (zyzzyva.install_snapshot)
    transfers_installed bigint NOT NULL DEFAULT 0,
    last_transfer_seq   bigint,
    last_transfer_at    timestamptz
);
-- the lanes are rewritten with every batch: keep them in the row
ALTER TABLE zyzzyva.replica_state ALTER COLUMN lanes SET STORAGE PLAIN;
INSERT INTO zyzzyva.replica_state DEFAULT VALUES;

-- Applied batches since the stable checkpoint (the checkpoint's own batch is
-- kept for its history digest).  requests is the batch as applied; replies
-- is count:uint32 followed by (len:uint32 reply) per request.
CREATE TABLE zyzzyva.batch_log (
    seq        bigint PRIMARY KEY,
    view       bigint NOT NULL,
    history    bytea NOT NULL,
    nd_time    bigint NOT NULL,
    nd_seed    bigint NOT NULL,
    requests   bytea NOT NULL,
    replies    bytea NOT NULL,
    applied_at timestamptz NOT NULL     -- local clock, outside the digest
);

-- Undo: the before- and after-image of every row change made by a batch
-- above the stable checkpoint, in canonical row text.  rel is a local OID:
-- undo never leaves this replica.  A replicated DDL request (extension/ddl.c)
-- also records schema actions, interleaved with the row changes in ord:
-- action names what rollback_to() does, target the object (rel = 0):
--   drop_table, drop_index, drop_routine, drop_schema   an object it created
--   unreplicate_table, unreplicate_function             a registration
CREATE TABLE zyzzyva.undo_log (
    seq     bigint NOT NULL,
    ord     integer NOT NULL,           -- order of the change within the batch
    request integer NOT NULL,           -- position of its request in the batch
    rel     oid NOT NULL,
    old_row text,                       -- NULL for an insert
    new_row text,                       -- NULL for a delete
    action  text CHECK (action IN ('drop_table', 'drop_index', 'drop_routine', 'drop_schema',
                                   'unreplicate_table', 'unreplicate_function')),
    target  text,                       -- quoted name or canonical signature
    PRIMARY KEY (seq, ord),
    CHECK (CASE WHEN action IS NULL THEN old_row IS NOT NULL OR new_row IS NOT NULL
                ELSE target IS NOT NULL AND old_row IS NULL AND new_row IS NULL END)
);

-- Replicated DDL requests applied here (zyzzyva.replicated_ddl), kept
-- past stable checkpoints: the schema history of the replica.  Rolled
-- back with their batch.
CREATE TABLE zyzzyva.ddl_log (
    seq     bigint NOT NULL,
    request integer NOT NULL,
    sql     text NOT NULL,
    PRIMARY KEY (seq, request)
);

-- ---------------------------------------------------------------------
-- Declaring replicated objects
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.replicate_table(rel regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'zyzzyva_replicate_table' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.replicate_table(regclass) IS
    'make a table replicated: it needs a primary key; from then on only replicated functions may write it';

CREATE FUNCTION zyzzyva.replicate_function(fn regprocedure) RETURNS text
    AS 'MODULE_PATHNAME', 'zyzzyva_replicate_function' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.replicate_function(regprocedure) IS
    'make a function callable as a replicated request; returns its canonical signature';

-- Schema setup as a replicated request (extension/ddl.c): a call on any
-- replica goes through the sidecar like a call of a replicated function,
-- and every replica runs the SQL at the same point in the order, inside
-- apply_batch(), where replicate_table() and replicate_function() are
-- allowed.  A built-in replicated function: not in function_registry.
CREATE FUNCTION zyzzyva.replicated_ddl(sql text) RETURNS void
    AS 'MODULE_PATHNAME', 'zyzzyva_replicated_ddl' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.replicated_ddl(text) IS
    'run schema setup (CREATE TABLE/INDEX/FUNCTION/SCHEMA, ALTER and GRANT on what it creates, row writes, replicate_table/replicate_function) as a replicated request: every replica applies it at the same point in the order; a rollback drops what it created';

-- the triggers replicate_table() installs (extension/capture.c)
CREATE FUNCTION zyzzyva.guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'zyzzyva_guard' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION zyzzyva.capture() RETURNS trigger
    AS 'MODULE_PATHNAME', 'zyzzyva_capture' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

-- Schema changes need f+1 replicas: zyzzyva.replicated_ddl(sql) is a
-- proposal, recorded here by replicated execution, and the statement runs
-- in the batch where the proposal of the (f+1)-th distinct replica for the
-- same text and role lands (extension/ddl.c).  A proposal expires
-- zyzzyva.ddl_proposal_timeout after the batch time it was made at, and
-- its replica may withdraw it (zyzzyva.withdraw_ddl).  The table is
-- replicated state like a replicated table: in the digest, undone with a
-- rolled-back batch, carried by state transfer, written only by replicated
-- execution.
CREATE TABLE zyzzyva.ddl_proposal (
    sql_digest  bytea NOT NULL,         -- SHA-256 of sql
    role        name NOT NULL,          -- who proposes: the DDL runs as this role
    replica     integer NOT NULL,       -- whose sidecar submitted it
    sql         text NOT NULL,
    proposed_seq bigint NOT NULL,       -- the batch that recorded it
    proposed_at bigint NOT NULL,        -- that batch's time (us since 1970)
    PRIMARY KEY (sql_digest, role, replica)
);
INSERT INTO zyzzyva.table_registry VALUES ('zyzzyva', 'ddl_proposal');
CREATE TRIGGER zyzzyva_guard
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON zyzzyva.ddl_proposal
    FOR EACH STATEMENT EXECUTE FUNCTION zyzzyva.guard();
CREATE TRIGGER zyzzyva_capture AFTER INSERT OR UPDATE OR DELETE ON zyzzyva.ddl_proposal
    FOR EACH ROW EXECUTE FUNCTION zyzzyva.capture();
ALTER TABLE zyzzyva.ddl_proposal
    ENABLE ALWAYS TRIGGER zyzzyva_guard,
    ENABLE ALWAYS TRIGGER zyzzyva_capture;

CREATE FUNCTION zyzzyva.withdraw_ddl(sql text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'zyzzyva_withdraw_ddl' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.withdraw_ddl(text) IS
    'withdraw, as a replicated request, this replica''s pending proposal of sql made by the current role; returns whether there was one';

-- ---------------------------------------------------------------------
-- Requests and replies (byte formats: extension/wire.c)
--   batch   := count:uint32 request{count}
--   request := client:uint32 timestamp:uint64 len:uint32 call[len]
--   call    := rolelen:uint32 role[rolelen] dblen:uint32 database[dblen]
--              siglen:uint32 signature[siglen] nargs:uint32 arg{nargs}
--   arg     := len:int32 text[len]                 (len = -1: NULL)
--   reply   := 'V' len:int32 text[len]             (result; -1: NULL)
--            | 'E' sqlstate[5] len:uint32 message[len]
-- Integers big-endian; text in the server encoding.
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.encode_call(signature text, VARIADIC args text[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_encode_call' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.encode_call(text, text[]) IS
    'the bytes of a call of a replicated function by the current user in the current database, arguments in canonical text';

CREATE FUNCTION zyzzyva.encode_call_as(role name, database name, signature text,
                                       VARIADIC args text[] DEFAULT '{}')
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_encode_call_as' LANGUAGE C IMMUTABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.encode_call_as(name, name, text, text[]) IS
    'the bytes of a call of a replicated function made by role in database';

CREATE FUNCTION zyzzyva.encode_batch(calls bytea[], clients integer[] DEFAULT NULL,
                                     timestamps bigint[] DEFAULT NULL)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_encode_batch' LANGUAGE C IMMUTABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.encode_batch(bytea[], integer[], bigint[]) IS
    'frame calls into a batch for apply_batch (default client 0, timestamps 1, 2, ...)';

CREATE FUNCTION zyzzyva.decode_batch(requests bytea)
    RETURNS TABLE (request integer, client bigint, client_timestamp bigint,
                   role text, database text, signature text, args text[], error text)
    AS 'MODULE_PATHNAME', 'zyzzyva_decode_batch' LANGUAGE C STRICT IMMUTABLE
    SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION zyzzyva.decode_reply(reply bytea, OUT sqlstate text, OUT result text)
    RETURNS record
    AS 'MODULE_PATHNAME', 'zyzzyva_decode_reply' LANGUAGE C STRICT IMMUTABLE
    SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------
-- Calls: outside replicated execution, a call of a replicated function goes
-- through the local sidecar (zyzzyva.socket_path) and returns the agreed
-- result (extension/call.c).
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.last_call(OUT signature text, OUT path text, OUT view bigint,
                                  OUT seq bigint, OUT sqlstate text, OUT applied boolean)
    RETURNS record
    AS 'MODULE_PATHNAME', 'zyzzyva_last_call' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.last_call() IS
    'this session''s last completed replicated call: fast or commit path, view and sequence number of its batch, SQLSTATE, whether this replica had applied it';

-- ---------------------------------------------------------------------
-- Applying, rolling back, checkpoints
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.apply_batch(seq bigint, view bigint, history bytea,
                                    nd_time bigint, nd_seed bigint, requests bytea)
    RETURNS TABLE (request integer, sqlstate text, result text, reply bytea)
    AS 'MODULE_PATHNAME', 'zyzzyva_apply_batch' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.apply_batch(bigint, bigint, bytea, bigint, bigint, bytea) IS
    'execute ordered batch seq in this transaction, one subtransaction per request; one reply per request';

CREATE FUNCTION zyzzyva.rollback_to(seq bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_rollback_to' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.rollback_to(bigint) IS
    'undo every batch above seq (never below the stable checkpoint); returns the number of batches undone';

CREATE FUNCTION zyzzyva.mark_stable(seq bigint, state_digest bytea DEFAULT NULL,
                                    proof bytea DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_mark_stable' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.mark_stable(bigint, bytea, bytea) IS
    'record a stable checkpoint and delete the undo at or below it; returns the undo records deleted';

CREATE FUNCTION zyzzyva.record_commit(seq bigint, cc bytea) RETURNS boolean
    AS 'MODULE_PATHNAME', 'zyzzyva_record_commit' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.record_commit(bigint, bytea) IS
    'keep the highest commit certificate; returns whether this one was adopted';

-- ---------------------------------------------------------------------
-- State transfer (extension/transfer.c for the snapshot's bytes)
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.snapshot(seq bigint) RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_snapshot' LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.snapshot(bigint) IS
    'the rows of every replicated table as of applied batch seq (stable_seq <= seq <= last_seq), from the current rows and the undo above seq, in canonical bytes; takes only reader locks; run it inside a REPEATABLE READ transaction';

CREATE FUNCTION zyzzyva.install_snapshot(seq bigint, history bytea, state_digest bytea,
                                         snap bytea, proof bytea DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'zyzzyva_install_snapshot' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.install_snapshot(bigint, bytea, bytea, bytea, bytea) IS
    'replace every replicated row with a snapshot of stable checkpoint seq if it gives state_digest (else SQLSTATE ZZ001, nothing changed); seq becomes the last applied batch and the stable checkpoint; returns the rows installed';

-- What the sidecar reports of this replica, for the status view.
CREATE FUNCTION zyzzyva.set_condition(condition text, detail text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF condition IS NULL OR condition NOT IN ('normal', 'catching_up', 'state_transfer',
                                              'diverged', 'stalled') THEN
        RAISE EXCEPTION 'invalid replica condition: %', coalesce(quote_literal(condition), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'One of normal, catching_up, state_transfer, diverged, stalled.';
    END IF;
    UPDATE zyzzyva.replica_state AS s
       SET condition_since = CASE WHEN s.condition = set_condition.condition
                                  THEN s.condition_since ELSE now() END,
           condition = set_condition.condition,
           condition_detail = detail
     WHERE s.id = 1;
END
$$;
COMMENT ON FUNCTION zyzzyva.set_condition(text, text) IS
    'record the condition the sidecar reports (normal, catching_up, state_transfer, diverged, stalled) with a detail; condition_since changes only with the condition; waits for a batch being applied (it writes the state row)';

-- ---------------------------------------------------------------------
-- Determinism: the primary's nondeterministic choices for the batch
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.now() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'zyzzyva_now' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.now() IS
    'the time the primary chose for the batch; use it instead of now() in replicated functions';

CREATE FUNCTION zyzzyva.random() RETURNS double precision
    AS 'MODULE_PATHNAME', 'zyzzyva_random' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.random() IS
    'a value in [0, 1) derived from the batch seed; use it instead of random() in replicated functions';

-- ---------------------------------------------------------------------
-- State digest
-- ---------------------------------------------------------------------

-- The definition of a table as the digest sees it: columns (type,
-- collation, nullability, default or generation expression, identity),
-- constraints, unique indexes and triggers, in a fixed order.
CREATE FUNCTION zyzzyva.table_definition(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.concat_ws(E'\n',
        (SELECT pg_catalog.string_agg(pg_catalog.concat('column ', pg_catalog.quote_ident(a.attname), ' ',
                                  pg_catalog.format_type(a.atttypid, a.atttypmod),
                                  (SELECT ' collate ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(cn.nspname)
                                          OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.collname)
                                     FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn
                                       ON cn.oid OPERATOR(pg_catalog.=) co.collnamespace
                                    WHERE co.oid OPERATOR(pg_catalog.=) a.attcollation),
                                  CASE WHEN a.attnotnull THEN ' not null' END,
                                  CASE a.attidentity WHEN 'a' THEN ' identity always'
                                                     WHEN 'd' THEN ' identity by default' END,
                                  CASE WHEN a.attgenerated OPERATOR(pg_catalog.=) 's' THEN ' generated ' ELSE ' default ' END
                                      OPERATOR(pg_catalog.||) pg_catalog.pg_get_expr(d.adbin, d.adrelid)),
                           E'\n' ORDER BY a.attnum)
           FROM pg_catalog.pg_attribute a
           LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid
                                            AND d.adnum OPERATOR(pg_catalog.=) a.attnum
          WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attnum OPERATOR(pg_catalog.>) 0
            AND NOT a.attisdropped),
        (SELECT pg_catalog.string_agg(pg_catalog.concat('constraint ', pg_catalog.quote_ident(c.conname), ' ',
                                                        pg_catalog.pg_get_constraintdef(c.oid)),
                           E'\n' ORDER BY c.conname COLLATE "C")
           FROM pg_catalog.pg_constraint c WHERE c.conrelid OPERATOR(pg_catalog.=) rel),
        (SELECT pg_catalog.string_agg('index ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_indexdef(i.indexrelid),
                           E'\n' ORDER BY pg_catalog.pg_get_indexdef(i.indexrelid) COLLATE "C")
           FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) rel AND i.indisunique),
        (SELECT pg_catalog.string_agg('trigger ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_triggerdef(t.oid)
                                      OPERATOR(pg_catalog.||) ' enabled ' OPERATOR(pg_catalog.||) t.tgenabled::pg_catalog.text,
                           E'\n' ORDER BY t.tgname COLLATE "C")
           FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) rel AND NOT t.tgisinternal))
$$;

-- Who may do what to a replicated table or function, as apply sees it:
-- owner, privileges (sorted: the order of grants does not matter) and, for
-- a table, row security and its policies.  Replicated calls run as their
-- callers, so these decide replies as much as the definitions do.
CREATE FUNCTION zyzzyva.object_privileges(obj oid, is_table boolean) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN is_table THEN
        (SELECT pg_catalog.concat_ws(' ', 'owner', pg_catalog.pg_get_userbyid(c.relowner),
                    'acl', coalesce((SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text COLLATE "C")
                                       FROM pg_catalog.unnest(c.relacl) AS a), 'default'),
                    'rls', c.relrowsecurity::pg_catalog.text, c.relforcerowsecurity::pg_catalog.text,
                    (SELECT pg_catalog.string_agg(pg_catalog.concat_ws(' ', 'policy', pg_catalog.quote_ident(p.polname),
                                p.polcmd::pg_catalog.text, p.polpermissive::pg_catalog.text,
                                (SELECT pg_catalog.string_agg(CASE WHEN r OPERATOR(pg_catalog.=) 0 THEN 'public'
                                                                   ELSE pg_catalog.pg_get_userbyid(r)::pg_catalog.text END,
                                                              ',' ORDER BY 1)
                                   FROM pg_catalog.unnest(p.polroles) AS r),
                                pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)),
                            E'\n' ORDER BY p.polname COLLATE "C")
                       FROM pg_catalog.pg_policy p WHERE p.polrelid OPERATOR(pg_catalog.=) c.oid))
           FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) obj)
    ELSE
        (SELECT pg_catalog.concat_ws(' ', 'owner', pg_catalog.pg_get_userbyid(p.proowner),
                    'acl', coalesce((SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text COLLATE "C")
                                       FROM pg_catalog.unnest(p.proacl) AS a), 'default'))
           FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) obj)
    END
$$;

-- What the state digest covers besides rows: the current definition of
-- every replicated function and table, who may do what to them, and the
-- attributes and memberships of the roles that own them or hold
-- privileges on them.
CREATE VIEW zyzzyva.schema_items AS
    WITH objs AS (
        SELECT 'function'::text AS kind, f.signature AS identity,
               to_regprocedure(f.signature)::oid AS obj, false AS is_table
          FROM zyzzyva.function_registry f
        UNION ALL
        SELECT 'table', quote_ident(t.schema_name) || '.' || quote_ident(t.table_name),
               to_regclass(quote_ident(t.schema_name) || '.' || quote_ident(t.table_name))::oid, true
          FROM zyzzyva.table_registry t
    ), grantees AS (
        SELECT p.proowner AS role, p.proacl AS acl FROM objs o JOIN pg_proc p ON p.oid = o.obj
         WHERE NOT o.is_table
        UNION ALL
        SELECT c.relowner, c.relacl FROM objs o JOIN pg_class c ON c.oid = o.obj
         WHERE o.is_table AND c.relnamespace <> 'zyzzyva'::regnamespace
    ), roles AS (
        SELECT role FROM grantees
        UNION
        SELECT (aclexplode(acl)).grantee FROM grantees WHERE acl IS NOT NULL
    )
    SELECT o.kind, o.identity,
           coalesce(CASE WHEN o.is_table THEN zyzzyva.table_definition(o.obj::regclass)
                         ELSE pg_get_functiondef(o.obj) END, '(missing)') AS definition
      FROM objs o
    UNION ALL
    SELECT o.kind || ' privileges', o.identity, coalesce(zyzzyva.object_privileges(o.obj, o.is_table), '(missing)')
      FROM objs o
     WHERE NOT (o.is_table AND o.identity LIKE 'zyzzyva.%')
    UNION ALL
    SELECT 'role', quote_ident(r.rolname),
           concat_ws(' ', 'superuser', r.rolsuper, 'inherit', r.rolinherit, 'bypassrls', r.rolbypassrls,
                     'member of', (SELECT string_agg(quote_ident(g.rolname), ',' ORDER BY g.rolname COLLATE "C")
                                     FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                                    WHERE m.member = r.oid))
      FROM roles x JOIN pg_roles r ON r.oid = x.role;

CREATE FUNCTION zyzzyva.state_digest() RETURNS bytea
    AS 'MODULE_PATHNAME', 'zyzzyva_state_digest' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.state_digest() IS
    'SHA-256 over the LtHash of all replicated rows and the replicated schema: what CHECKPOINTs compare';

CREATE FUNCTION zyzzyva.verify_digest() RETURNS boolean
    AS 'MODULE_PATHNAME', 'zyzzyva_verify_digest' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.verify_digest() IS
    'recompute the row digest from every replicated row and compare it with the incremental one (reads everything)';

-- ---------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------

CREATE VIEW zyzzyva.replicated_functions AS
    SELECT f.signature,
           p.oid::regprocedure AS function,        -- NULL if dropped since
           l.lanname AS language,
           CASE p.provolatile WHEN 'v' THEN 'volatile' WHEN 's' THEN 'stable'
                              WHEN 'i' THEN 'immutable' END AS volatility,
           format_type(p.prorettype, NULL) AS result_type
      FROM zyzzyva.function_registry f
      LEFT JOIN pg_proc p ON p.oid = to_regprocedure(f.signature)
      LEFT JOIN pg_language l ON l.oid = p.prolang;

CREATE VIEW zyzzyva.replicated_tables AS
    SELECT t.schema_name, t.table_name, r.rel AS relation,
           (SELECT array_agg(a.attname ORDER BY k.ord)
              FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = r.rel AND i.indisprimary) AS primary_key,
           EXISTS (SELECT 1 FROM pg_trigger g
                    WHERE g.tgrelid = r.rel AND g.tgname = 'zyzzyva_capture'
                      AND g.tgenabled = 'A') AS capturing
      FROM zyzzyva.table_registry t
     CROSS JOIN LATERAL (SELECT to_regclass(quote_ident(t.schema_name) || '.'
                                           || quote_ident(t.table_name)) AS rel) r
     WHERE t.schema_name <> 'zyzzyva';

-- What this database knows of the replica's position.  The sidecar's view
-- of the protocol (replica id, n, f, mode, peers, request statistics)
-- is not stored here.
CREATE VIEW zyzzyva.status AS
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
           s.last_transfer_at
      FROM zyzzyva.replica_state s;

-- Whether the incremental digest still equals a recomputation from every
-- replicated row.  A view of its own, not a column of status: it reads
-- every replicated row (O(database)), while status is cheap enough to poll.
CREATE VIEW zyzzyva.digest_check AS
    SELECT zyzzyva.verify_digest() AS digest_ok;

-- The replicated DDL requests this replica applied.
CREATE VIEW zyzzyva.ddl_history AS
    SELECT seq, request, sql FROM zyzzyva.ddl_log;

-- Pending proposals of replicated DDL: which replicas proposed which
-- statement as which role, and when each expires (zyzzyva.now() time).
CREATE VIEW zyzzyva.ddl_proposals AS
    SELECT p.sql, p.role, p.replica, p.proposed_seq,
           to_timestamp(p.proposed_at / 1000000.0) AS proposed_at,
           to_timestamp(p.proposed_at / 1000000.0)
               + current_setting('zyzzyva.ddl_proposal_timeout')::interval AS expires_at,
           count(*) OVER (PARTITION BY p.sql_digest, p.role) AS replicas
      FROM zyzzyva.ddl_proposal p;

-- ---------------------------------------------------------------------
-- The sidecar's view of the replica, read from its local socket
-- (zyzzyva.socket_path) when queried; an error if it does not answer.
-- ---------------------------------------------------------------------

CREATE FUNCTION zyzzyva.sidecar_status() RETURNS TABLE (key text, value text)
    AS 'MODULE_PATHNAME', 'zyzzyva_sidecar_status' LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION zyzzyva.sidecar_status() IS
    'the local sidecar''s status lines as (key, value), asked over zyzzyva.socket_path; an error (08006) if it does not answer within zyzzyva.call_timeout, at most 10 s';

-- One row: the sidecar's replica and its protocol position.
CREATE VIEW zyzzyva.sidecar AS
    SELECT (s->>'id')::integer AS id,
           (s->>'n')::integer AS n,
           (s->>'f')::integer AS f,
           (s->>'view')::bigint AS view,
           (s->>'primary')::integer AS primary_id,
           (s->>'primary') = (s->>'id') AS is_primary,
           s->>'mode' AS mode,
           (s->>'max_seq')::bigint AS max_seq,
           (s->>'last_executed')::bigint AS last_executed,
           (s->>'committed')::bigint AS committed,
           (s->>'stable_seq')::bigint AS stable_seq,
           s->>'history' AS history,
           s->>'stable_state' AS stable_state,
           (s->>'peers_connected')::integer AS peers_connected,
           (s->>'clients_connected')::integer AS clients_connected,
           s->>'pg_state' AS pg_state,
           s->>'pg_condition' AS pg_condition,
           (s->>'pid')::integer AS pid,
           (s->>'uptime_s')::bigint AS uptime_s
      FROM (SELECT jsonb_object_agg(key, value) AS s
              FROM zyzzyva.sidecar_status() WHERE key NOT LIKE 'peer.%') AS st;

-- One row per peer replica, from the sidecar's "peer.N: state k=v ..." lines.
CREATE VIEW zyzzyva.peers AS
    SELECT substr(key, 6)::integer AS id,
           split_part(value, ' ', 1) AS state,
           split_part(value, ' ', 1) = 'connected' AS connected,
           substring(value FROM ' addr=(\S+)') AS address,
           substring(value FROM ' since_ms=(\d+)')::bigint AS since_ms,
           substring(value FROM ' rtt_us=(\d+)')::bigint AS rtt_us,
           substring(value FROM ' sessions=(\d+)')::bigint AS sessions,
           substring(value FROM ' frames_in=(\d+)')::bigint AS frames_in,
           substring(value FROM ' frames_out=(\d+)')::bigint AS frames_out,
           substring(value FROM ' bytes_in=(\d+)')::bigint AS bytes_in,
           substring(value FROM ' bytes_out=(\d+)')::bigint AS bytes_out,
           substring(value FROM ' dropped=(\d+)')::bigint AS dropped,
           substring(value FROM ' queued=(\d+)')::bigint AS queued
      FROM zyzzyva.sidecar_status()
     WHERE key ~ '^peer\.[0-9]+$';

-- Request statistics of the sidecar: its clients (this replica's backends)
-- and the batches its replica executed.  Latency percentiles are read from
-- requests_latency_p50_us / _p90_us / _p99_us lines when the sidecar
-- reports them, NULL otherwise.
CREATE VIEW zyzzyva.request_stats AS
    SELECT (s->>'requests_completed_fast')::bigint AS completed_fast,
           (s->>'requests_completed_commit')::bigint AS completed_commit,
           (s->>'requests_retransmissions')::bigint AS retransmissions,
           (s->>'requests_commits_sent')::bigint AS commits_sent,
           (s->>'requests_outstanding')::bigint AS outstanding,
           (s->>'rollbacks')::bigint AS rollbacks,
           (s->>'view_changes')::bigint AS view_changes,
           (s->>'batches_executed')::bigint AS batches_executed,
           (s->>'requests_executed')::bigint AS requests_executed,
           round((s->>'requests_executed')::numeric
                 / nullif((s->>'batches_executed')::numeric, 0), 2) AS mean_batch_size,
           (s->>'requests_mean_latency_us')::bigint AS mean_latency_us,
           (s->>'requests_latency_p50_us')::bigint AS latency_p50_us,
           (s->>'requests_latency_p90_us')::bigint AS latency_p90_us,
           (s->>'requests_latency_p99_us')::bigint AS latency_p99_us
      FROM (SELECT jsonb_object_agg(key, value) AS s
              FROM zyzzyva.sidecar_status() WHERE key NOT LIKE 'peer.%') AS st;

-- ---------------------------------------------------------------------
-- Privileges.  Callers of replicated functions need only the schema and
-- the batch's time and randomness (replicated calls run as the caller).
-- Monitoring (the status views, the sidecar's addresses, pid and traffic,
-- the DDL history, the digest) is for zyzzyva_monitor, as pg_monitor is for
-- PostgreSQL's own statistics; the extension creates the role if it does
-- not exist (roles are per cluster: it outlives the extension).  Changing
-- replicated state is for the sidecar's role and the administrator.
-- ---------------------------------------------------------------------

-- zyzzyva_sidecar holds what the sidecar's connection needs and nothing
-- else: the daemon's functions, and reading its position and batch log.
-- Grant it to the sidecar's login role.  (Whoever holds it can apply
-- batches, and so act as any role the entrustment names: it is the
-- replica's own trust, like the sidecar's keys.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'zyzzyva_sidecar') THEN
        CREATE ROLE zyzzyva_sidecar NOLOGIN;
        COMMENT ON ROLE zyzzyva_sidecar IS
            'what the zyzzyva sidecar''s database connection needs: apply, roll back, checkpoint, digest, state transfer';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                    WHERE rolname OPERATOR(pg_catalog.=) 'zyzzyva_monitor') THEN
        CREATE ROLE zyzzyva_monitor NOLOGIN;
        COMMENT ON ROLE zyzzyva_monitor IS
            'may read the zyzzyva status views and the sidecar''s status';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA zyzzyva TO PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA zyzzyva FROM PUBLIC;
-- what replicated functions and ordinary sessions use
GRANT EXECUTE ON FUNCTION
    zyzzyva.now(),
    zyzzyva.random(),
    zyzzyva.guard(),        -- trigger functions: only as triggers; CREATE
    zyzzyva.capture(),      -- TRIGGER in replicate_table() needs EXECUTE
    zyzzyva.registry_changed(),
    zyzzyva.last_call(),
    zyzzyva.encode_call(text, text[]),
    zyzzyva.encode_call_as(name, name, text, text[]),
    zyzzyva.encode_batch(bytea[], integer[], bigint[]),
    zyzzyva.decode_batch(bytea),
    zyzzyva.decode_reply(bytea)
  TO PUBLIC;
-- what is replicated
GRANT SELECT ON zyzzyva.replicated_functions, zyzzyva.replicated_tables TO PUBLIC;
-- monitoring
GRANT EXECUTE ON FUNCTION
    zyzzyva.state_digest(),
    zyzzyva.verify_digest(),
    zyzzyva.table_definition(regclass),
    zyzzyva.object_privileges(oid, boolean),
    zyzzyva.sidecar_status()
  TO zyzzyva_monitor;
-- the sidecar
GRANT zyzzyva_monitor TO zyzzyva_sidecar;
GRANT EXECUTE ON FUNCTION
    zyzzyva.apply_batch(bigint, bigint, bytea, bigint, bigint, bytea),
    zyzzyva.rollback_to(bigint),
    zyzzyva.mark_stable(bigint, bytea, bytea),
    zyzzyva.record_commit(bigint, bytea),
    zyzzyva.snapshot(bigint),
    zyzzyva.install_snapshot(bigint, bytea, bytea, bytea, bytea),
    zyzzyva.set_condition(text, text)
  TO zyzzyva_sidecar;
GRANT SELECT ON zyzzyva.replica_state, zyzzyva.batch_log TO zyzzyva_sidecar;
-- the settings the sidecar passes at connection start (superuser-only
-- otherwise: no other role may widen the entrustment)
GRANT SET ON PARAMETER zyzzyva.entrust, zyzzyva.cluster_f TO zyzzyva_sidecar;
GRANT SELECT ON zyzzyva.status, zyzzyva.schema_items, zyzzyva.digest_check,
                zyzzyva.ddl_history, zyzzyva.ddl_proposals, zyzzyva.sidecar, zyzzyva.peers,
                zyzzyva.request_stats
  TO zyzzyva_monitor;
