-- replicate.sql: on each zyzzyva replica only, after tpcb.sql: the four
-- tables and the function become replicated (the tables' current rows, the
-- same on every replica after `pgbench -i`, enter the state digest).
SELECT zyzzyva.replicate_table('pgbench_accounts');
SELECT zyzzyva.replicate_table('pgbench_tellers');
SELECT zyzzyva.replicate_table('pgbench_branches');
SELECT zyzzyva.replicate_table('pgbench_history');
SELECT zyzzyva.replicate_function('tpcb(integer,integer,integer,integer,bigint)');
