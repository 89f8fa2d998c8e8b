-- bench-apply.sh: database plain, unreplicated: one call per transaction.
CREATE PROCEDURE bench_plain(lo int, hi int) LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT * FROM bench_calls WHERE i BETWEEN lo AND hi ORDER BY i LOOP
    PERFORM tpcb(c.aid, c.bid, c.tid, c.delta, c.hid);
    COMMIT;
  END LOOP;
END $$;
