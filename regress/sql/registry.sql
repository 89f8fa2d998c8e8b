--
-- registry: declaring replicated tables and functions, and every refusal.
-- The bank schema made here is used by the tests that follow.
--
\pset null '(null)'

CREATE TABLE accounts (
    id         integer PRIMARY KEY,
    owner      text NOT NULL,
    balance    numeric NOT NULL CHECK (balance >= 0),
    updated_at timestamptz
);
CREATE TABLE ledger (
    id     integer PRIMARY KEY,
    src    integer REFERENCES accounts ON DELETE CASCADE ON UPDATE CASCADE,
    dst    integer REFERENCES accounts ON DELETE CASCADE ON UPDATE CASCADE,
    amount numeric NOT NULL,
    at     timestamptz NOT NULL
);
-- rows present before replication become part of the replicated state
INSERT INTO accounts VALUES (1, 'alice', 100, NULL), (2, 'bob', 50, NULL);

-- a user trigger: it runs when requests change rows, never during undo
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := zyzzyva.now();
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION touch();

-- tables that cannot be replicated
CREATE TABLE nokey (x integer);
CREATE TEMP TABLE scratch (id integer PRIMARY KEY);
CREATE TABLE parted (id integer PRIMARY KEY) PARTITION BY RANGE (id);
CREATE VIEW accounts_view AS SELECT * FROM accounts;
SELECT zyzzyva.replicate_table('nokey');
SELECT zyzzyva.replicate_table('scratch');
SELECT zyzzyva.replicate_table('parted');
SELECT zyzzyva.replicate_table('accounts_view');
SELECT zyzzyva.replicate_table('zyzzyva.undo_log');
SELECT zyzzyva.replicate_table('pg_class');
SELECT zyzzyva.replicate_table('no_such_table');
SELECT zyzzyva.replicate_table(NULL);

SELECT zyzzyva.replicate_table('accounts');
SELECT zyzzyva.replicate_table('ledger');
SELECT zyzzyva.replicate_table('public.accounts');
SELECT * FROM zyzzyva.replicated_tables ORDER BY table_name;
SELECT zyzzyva.verify_digest();

-- outside replicated execution, replicated tables refuse every write
INSERT INTO accounts VALUES (3, 'carol', 0);
UPDATE accounts SET balance = 0;
DELETE FROM accounts;
TRUNCATE accounts;
TRUNCATE ledger CASCADE;
-- the triggers are ENABLE ALWAYS: replica mode does not bypass them
SET session_replication_role = replica;
UPDATE accounts SET balance = 0;
RESET session_replication_role;
-- a writable CTE and a function are refused the same way
WITH d AS (DELETE FROM accounts RETURNING *) SELECT count(*) FROM d;
CREATE FUNCTION sneaky() RETURNS void LANGUAGE sql AS $$ UPDATE accounts SET balance = 0 $$;
SELECT sneaky();
-- reads are fine, and nothing changed
SELECT id, owner, balance, updated_at FROM accounts ORDER BY id;

-- the functions of the bank
CREATE FUNCTION transfer(from_id integer, to_id integer, how_much numeric) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    left_over numeric;
BEGIN
    UPDATE accounts SET balance = balance - how_much WHERE id = from_id
        RETURNING balance INTO left_over;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', from_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE accounts SET balance = balance + how_much WHERE id = to_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', to_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO ledger
        SELECT coalesce(max(id), 0) + 1, from_id, to_id, how_much, zyzzyva.now() FROM ledger;
    RETURN left_over;
END $$;
CREATE FUNCTION open_account(id integer, owner text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO accounts VALUES (id, owner, 0, NULL) $$;
CREATE FUNCTION close_account(acct integer) RETURNS numeric
LANGUAGE sql AS $$ DELETE FROM accounts WHERE id = acct RETURNING balance $$;
CREATE FUNCTION renumber(old_id integer, new_id integer) RETURNS void
LANGUAGE sql AS $$ UPDATE accounts SET id = new_id WHERE id = old_id $$;
CREATE FUNCTION account(acct integer) RETURNS accounts
LANGUAGE sql AS $$ SELECT * FROM accounts WHERE id = acct $$;
CREATE FUNCTION total(VARIADIC amounts numeric[]) RETURNS numeric
LANGUAGE sql AS $$ SELECT sum(a) FROM unnest(amounts) a $$;
CREATE FUNCTION echo(t text) RETURNS text STRICT LANGUAGE sql AS $$ SELECT t $$;
CREATE FUNCTION fail_with(code text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'failing with %', code USING ERRCODE = code;
END $$;

-- functions that cannot be replicated
CREATE FUNCTION all_accounts() RETURNS SETOF accounts LANGUAGE sql AS $$ SELECT * FROM accounts $$;
CREATE PROCEDURE proc() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION poly(x anyelement) RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$;
SELECT zyzzyva.replicate_function('all_accounts()');
SELECT zyzzyva.replicate_function('proc()');
SELECT zyzzyva.replicate_function('poly(anyelement)');
SELECT zyzzyva.replicate_function('touch()');
SELECT zyzzyva.replicate_function('sum(integer)');
SELECT zyzzyva.replicate_function('lower(text)');
SELECT zyzzyva.replicate_function('zyzzyva.now()');
SELECT zyzzyva.replicate_function('no_such_function(integer)');

-- the canonical signature: schema-qualified, argument types as
-- format_procedure_qualified() prints them
SELECT zyzzyva.replicate_function(f)
  FROM unnest(ARRAY['transfer(integer,integer,numeric)', 'open_account(integer,text)',
                    'close_account(integer)', 'renumber(integer,integer)',
                    'account(integer)', 'total(numeric[])', 'echo(text)',
                    'fail_with(text)']::regprocedure[]) AS f;
SELECT zyzzyva.replicate_function('transfer(integer,integer,numeric)');
SELECT * FROM zyzzyva.replicated_functions ORDER BY signature;

-- the schema part of the digest: each replicated object's definition
SELECT kind, identity FROM zyzzyva.schema_items ORDER BY kind, identity COLLATE "C";
SELECT definition FROM zyzzyva.schema_items WHERE identity = 'public.accounts';

-- a monitoring role reads the views but cannot change replicated state
CREATE ROLE zz_reader IN ROLE zyzzyva_monitor;
SET ROLE zz_reader;
SELECT last_applied_seq, octet_length(state_digest) FROM zyzzyva.status;
SELECT count(*) FROM zyzzyva.replicated_functions;
SELECT zyzzyva.replicate_table('accounts');
SELECT zyzzyva.replicate_function('transfer(integer,integer,numeric)');
SELECT * FROM zyzzyva.apply_batch(1, 0, sha256(''), 0, 0, '\x00000000');
SELECT zyzzyva.rollback_to(0);
SELECT count(*) FROM zyzzyva.undo_log;
RESET ROLE;
DROP ROLE zz_reader;
