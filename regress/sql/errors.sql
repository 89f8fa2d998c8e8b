--
-- errors: a request's error reply carries the SQLSTATE, message, DETAIL and
-- HINT the function raised (not CONTEXT), as the same bytes on every
-- replica; an error with neither DETAIL nor HINT keeps the short form.
--
\pset null '(null)'
CREATE DATABASE zz_err TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c zz_err
CREATE EXTENSION zyzzyva;
CREATE TABLE acct (id integer PRIMARY KEY, balance integer CHECK (balance >= 0));
SELECT zyzzyva.replicate_table('acct');
CREATE FUNCTION pay(i integer, amount integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF amount > 100 THEN
        RAISE EXCEPTION 'amount % is too large', amount
            USING ERRCODE = '22023', DETAIL = 'The limit is 100 per call.',
                  HINT = 'Split the payment.';
    ELSIF amount = 0 THEN
        RAISE EXCEPTION 'nothing to pay' USING HINT = 'Pay something.';
    ELSIF amount < 0 THEN
        RAISE EXCEPTION 'negative amount';
    END IF;
    INSERT INTO acct VALUES (i, amount);
    RETURN amount;
END $$;
CREATE FUNCTION stamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT now() $$;
SELECT zyzzyva.replicate_function('pay(integer,integer)'), zyzzyva.replicate_function('stamp()');

CREATE TABLE replies AS
SELECT request, reply
  FROM zyzzyva.apply_batch(1, 0, sha256('1'), 1700000000000000, 1, zyzzyva.encode_batch(ARRAY[
    zyzzyva.encode_call('public.pay(integer,integer)', '1', '50'),
    zyzzyva.encode_call('public.pay(integer,integer)', '2', '500'),
    zyzzyva.encode_call('public.pay(integer,integer)', '3', '0'),
    zyzzyva.encode_call('public.pay(integer,integer)', '4', '-1'),
    zyzzyva.encode_call('public.pay(integer,integer)', '1', '60'),
    zyzzyva.encode_call('public.stamp()')]));
SELECT request, get_byte(reply, 0) AS kind, (zyzzyva.decode_reply_error(reply)).*
  FROM replies ORDER BY request;
-- the bytes of an error with DETAIL and HINT, and of one without
SELECT encode(reply, 'escape') FROM replies WHERE request IN (2, 3) ORDER BY request;
SELECT * FROM zyzzyva.decode_reply(
    (SELECT reply FROM replies WHERE request = 1));

-- malformed: an 'F' reply must carry a DETAIL or a HINT, and nothing after
SELECT zyzzyva.decode_reply_error(decode('4632323032330000000178ffffffffffffffff', 'hex'));
SELECT zyzzyva.decode_reply_error(decode('46323230323300000001780000000178ffffffff00', 'hex'));
SELECT zyzzyva.decode_reply_error(decode('46323230323300000001780000000178ffffffff', 'hex'));

\c contrib_regression
DROP DATABASE zz_err;
