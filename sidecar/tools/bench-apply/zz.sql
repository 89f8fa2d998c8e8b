-- bench-apply.sh: database zz, replicated: the batches, encoded beforehand
-- (psql variable calls: calls per variant).  Batch k of round r: of 1 call,
-- call (3r + 1) calls + k; of 8 calls, calls (3r + 2) calls + 8 (k - 1) + 1 ...
CREATE FUNCTION bench_call(c bench_calls) RETURNS bytea LANGUAGE sql AS $$
  SELECT zyzzyva.encode_call('public.tpcb(integer,integer,integer,integer,bigint)',
         c.aid::text, c.bid::text, c.tid::text, c.delta::text, c.hid::text) $$;
CREATE TABLE bench_b1 AS
  SELECT (i - 1) / (3 * :calls) AS r, (i - 1) % (3 * :calls) - :calls + 1 AS k,
         zyzzyva.encode_batch(ARRAY[bench_call(c)], ARRAY[1 + i % 60000]) AS req
    FROM bench_calls c WHERE (i - 1) % (3 * :calls) BETWEEN :calls AND 2 * :calls - 1;
CREATE TABLE bench_b8 AS
  SELECT (i - 1) / (3 * :calls) AS r, ((i - 1) % (3 * :calls) - 2 * :calls) / 8 + 1 AS k,
         zyzzyva.encode_batch(array_agg(bench_call(c) ORDER BY i),
                              array_agg(1 + i % 60000 ORDER BY i)) AS req
    FROM bench_calls c WHERE (i - 1) % (3 * :calls) >= 2 * :calls GROUP BY 1, 2;
CREATE UNIQUE INDEX ON bench_b1 (r, k);
CREATE UNIQUE INDEX ON bench_b8 (r, k);

-- apply batches lo .. hi of round rnd of table t (bench_b1, bench_b8, or
-- 'empty': batches of no call), one transaction each, in sequence
CREATE PROCEDURE bench_apply(t text, rnd int, lo int, hi int) LANGUAGE plpgsql AS $$
DECLARE
  q bytea;
  s bigint;
BEGIN
  FOR k IN lo .. hi LOOP
    IF t = 'empty' THEN
      q := zyzzyva.encode_batch(ARRAY[]::bytea[]);
    ELSE
      EXECUTE format('SELECT req FROM %I WHERE r = $1 AND k = $2', t) INTO q USING rnd, k;
    END IF;
    SELECT last_seq + 1 INTO s FROM zyzzyva.replica_state WHERE id = 1;
    PERFORM count(*) FROM zyzzyva.apply_batch(s, 0, sha256(convert_to(s::text, 'UTF8')),
                                              1700000000000000 + s, s, q);
    COMMIT;
  END LOOP;
END $$;
