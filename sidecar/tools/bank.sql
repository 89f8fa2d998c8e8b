-- bank.sql: the demo's schema.
--
-- The demo runs it once, through one replica, as a replicated request
-- (SELECT zyzzyva.replicated_ddl(<this script>)); the tests also apply it
-- identically to every replica's database before their sidecars start.
-- Either way every replica has the same rows, the same function definition,
-- and therefore the same state digest (it covers the replicated tables'
-- rows and definitions and the replicated functions' definitions).

CREATE TABLE accounts (
    id      integer PRIMARY KEY,
    balance bigint NOT NULL CHECK (balance >= 0)
);
INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 100) AS g;

-- Move amount from src to dst; returns src's new balance.  Overdrawing
-- violates the CHECK constraint: that request's reply is the error, the
-- same on every replica, and the rest of its batch goes on.  A replicated
-- call runs as its caller: the function runs as its owner (SECURITY
-- DEFINER), so a client needs EXECUTE on it and no privilege on accounts.
CREATE FUNCTION transfer(src integer, dst integer, amount bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    left_over bigint;
BEGIN
    IF amount <= 0 THEN
        RAISE EXCEPTION 'amount must be positive, not %', amount;
    END IF;
    UPDATE accounts SET balance = balance - amount WHERE id = src
        RETURNING balance INTO left_over;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', src;
    END IF;
    UPDATE accounts SET balance = balance + amount WHERE id = dst;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', dst;
    END IF;
    RETURN left_over;
END
$$;

SELECT zyzzyva.replicate_table('accounts');
SELECT zyzzyva.replicate_function('transfer(integer,integer,bigint)');
