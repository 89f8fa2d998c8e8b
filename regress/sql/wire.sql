--
-- wire: the byte formats of requests and replies (extension/wire.c), and
-- the decoder's rejection of malformed input.
--
\pset null '(null)'

-- a call: the caller's role and database (length-prefixed), siglen,
-- signature, nargs, then each argument (-1 = NULL)
SELECT encode(zyzzyva.encode_call_as('alice', 'bank', 'public.f(integer)', '7', NULL), 'hex');
SELECT encode(zyzzyva.encode_call_as('alice', 'bank', 's.g()'), 'hex');
-- encode_call: as the current user, in the current database
SELECT zyzzyva.encode_call('s.g()') =
       zyzzyva.encode_call_as(current_user, current_database(), 's.g()') AS as_current_user;

-- a batch: count, then client, timestamp, length and call per request
SELECT encode(zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call_as('alice', 'bank', 's.g()')],
                                   ARRAY[5], ARRAY[9]::bigint[]), 'hex');
SELECT * FROM zyzzyva.decode_batch(zyzzyva.encode_batch(
    ARRAY[zyzzyva.encode_call_as('alice', 'bank', 'public.f(integer)', '7'),
          zyzzyva.encode_call_as('bob', 'bank', 's.g()'),
          zyzzyva.encode_call_as('alice', 'bank', 'public.h(text,text)', 'a "quoted", text', NULL)],
    ARRAY[3, 4, 4], ARRAY[10, 11, 12]::bigint[]));
SELECT * FROM zyzzyva.decode_batch('\x00000000');
SELECT zyzzyva.encode_batch(ARRAY[zyzzyva.encode_call('s.g()')], ARRAY[1, 2]);
SELECT zyzzyva.encode_batch(ARRAY[NULL::bytea]);
SELECT zyzzyva.encode_call_as(NULL, 'bank', 's.g()');

-- malformed batches fail the whole call: they can only come from a broken
-- daemon
SELECT * FROM zyzzyva.decode_batch('\x');
SELECT * FROM zyzzyva.decode_batch('\x000000');
SELECT * FROM zyzzyva.decode_batch('\x00000002' || zyzzyva.encode_batch(ARRAY['\x'::bytea]));
SELECT * FROM zyzzyva.decode_batch('\x00000001' || '\x000000000000000000000001000000ff'::bytea || '\x00'::bytea);
SELECT * FROM zyzzyva.decode_batch(zyzzyva.encode_batch(ARRAY['\x'::bytea]) || '\x00'::bytea);
SELECT * FROM zyzzyva.decode_batch('\xffffffff');

-- malformed calls are decoded per request, with the reason: apply_batch
-- gives that reason as the request's error reply, on every replica alike
-- (rd is a well-formed role and database: 'r', 'd')
WITH p AS (SELECT '\x00000001'::bytea || convert_to('r', 'UTF8') || '\x00000001'::bytea
                  || convert_to('d', 'UTF8') AS rd)
SELECT request, role, database, signature, error FROM p, zyzzyva.decode_batch(zyzzyva.encode_batch(ARRAY[
    '\x'::bytea,                                        -- nothing at all
    '\x00000000'::bytea,                                -- empty role
    '\x00000040'::bytea || convert_to(repeat('r', 64), 'UTF8'),          -- role too long
    '\x00000001'::bytea || convert_to('r', 'UTF8'),     -- no database
    '\x00000001'::bytea || convert_to('r', 'UTF8') || '\x00000000'::bytea,  -- empty database
    '\x00000001'::bytea || '\x00'::bytea || '\x00000001'::bytea || convert_to('d', 'UTF8'),  -- zero byte in role
    rd,                                                 -- no signature
    rd || '\x00000000'::bytea,                          -- empty signature
    rd || '\x0000000a6162'::bytea,                      -- signature longer than the call
    rd || '\x00000001' || convert_to('f', 'UTF8') || '\x000000ff'::bytea,   -- too many arguments for the bytes
    rd || '\x00000001' || convert_to('f', 'UTF8') || '\x0000000100000003'::bytea || '\x6162'::bytea,  -- truncated argument
    rd || '\x00000001' || convert_to('f', 'UTF8') || '\x00000000'::bytea || '\x00'::bytea,           -- trailing byte
    rd || '\x00000002' || '\xc328'::bytea || '\x00000000'::bytea,                                    -- not UTF-8
    rd || '\x00000001' || convert_to('f', 'UTF8') || '\x00000001'::bytea || '\x00000002'::bytea || '\x6100'::bytea,  -- zero byte
    rd || '\x00000001' || convert_to('f', 'UTF8') || '\x00000001ffffffff'::bytea                     -- a NULL argument: fine
]));

-- replies: 'V' and the result (length -1: NULL), or 'E', SQLSTATE, message
SELECT * FROM zyzzyva.decode_reply('\x5600000002' || convert_to('42', 'UTF8'));
SELECT * FROM zyzzyva.decode_reply('\x56ffffffff');
SELECT * FROM zyzzyva.decode_reply('\x45' || convert_to('23505', 'UTF8') || '\x00000003'::bytea || convert_to('dup', 'UTF8'));
SELECT * FROM zyzzyva.decode_reply('\x');
SELECT * FROM zyzzyva.decode_reply('\x58');
SELECT * FROM zyzzyva.decode_reply('\x5600000009' || convert_to('short', 'UTF8'));
SELECT * FROM zyzzyva.decode_reply('\x56000000003132');
SELECT * FROM zyzzyva.decode_reply('\x45ffffffff');
