# Schema migrations through zyzzyva.replicated_ddl on four replicas under
# load, with one replica stopped across some of them (docs/ddl.md).
#
#   - a shop's schema is created, then changed by a realistic sequence of
#     migrations, each proposed through replicas 1 and 2 (f+1 = 2): add a
#     column, backfill it through a replicated function, rename a column
#     (and replace the function that writes it), change a column's type,
#     add a constraint and an index, add a column to the hot table and
#     replace the hot function, drop the backfill function, drop the
#     constraint and the index, drop a table, grant and revoke;
#   - all the while, clients on replicas 0 and 1 call a replicated function
#     (bounded: a fixed number of calls each);
#   - replica 3 (server and sidecar) is stopped after the third migration
#     and started again after the tenth: it catches up across the schema
#     changes it missed (by state transfer: the snapshot carries the schema
#     history, and install runs it first; or by fetching the batches);
#   - replica 2's sidecar is killed (-9) right after the thirteenth
#     migration and started again: it resumes at its stable checkpoint,
#     rolling back the batches above it, schema changes included, and
#     fetches them again;
#   - at the end every replica has the same schema, rows and state digest,
#     the same certified stable checkpoint digest, and each digest matches
#     its rows;
#   - then (fault injection, as 102_view_change): a migration whose deciding proposal lands in a batch that reaches
#     replica 1 only is applied there speculatively, the primary is killed,
#     the view change leaves the batch out, replica 1 rolls the migration
#     back (retype, added column, grant) and applies it again when it is
#     ordered in view 1; replicas 1-3 end with equal schema and digests.
#
# Needs the daemon's binaries: ZZ_BUILD and ZZ_TOOLS (make tap-check or
# make pg-daemon-test); the harness is sidecar/daemon/tests/lib/ZZPG.pm.
use strict;
use warnings;
BEGIN
{
	unless ($ENV{ZZ_TOOLS} && $ENV{ZZ_BUILD})
	{
		print "Bail out!  ZZ_BUILD and ZZ_TOOLS must be set (make tap-check or make pg-daemon-test)\n";
		exit 255;
	}
}
use lib "$ENV{ZZ_TOOLS}/../daemon/tests/lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

# the fault-injection daemon, for the view change at the end; backups wait
# 2 s for the primary (as 102_view_change), so that it is dead before they
# give up on it
my $zz = ZZPG->new(
	name => 'mig',
	settings => { checkpoint_interval => 8, checkpoint_resend => '300ms', confirm_timeout => '2s' },
	sql => ['CREATE ROLE app_reader'],
	fault_injection => 1);
my $n = $zz->n;
my @all = 0 .. $n - 1;
my @node = map { $zz->node($_) } @all;

# A migration: proposed through replica 1, then replica 2, whose proposal
# (the f+1-th) applies it everywhere.  Returns the error of the second, if
# any.
my $migrations = 0;
sub migrate
{
	my ($what, $sql) = @_;
	$node[1]->safe_psql('postgres', "SELECT zyzzyva.replicated_ddl(\$mig\$$sql\$mig\$)");
	my ($rc, $out, $err) = $node[2]->psql('postgres', "SELECT zyzzyva.replicated_ddl(\$mig\$$sql\$mig\$)");
	$migrations++;
	is($err, '', "migration $migrations: $what");
	return $err;
}

# The schema a client sees, in a fixed order: tables, columns, constraints,
# indexes, functions (with a hash of their definitions) and privileges.
my $schema_sql = q{
SELECT string_agg(x, E'\n' ORDER BY x COLLATE "C") FROM (
  SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') AS x
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  UNION ALL
  SELECT 'rel ' || relname || ' ' || relkind::text || ' ' || coalesce(relacl::text, '-')
    FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')
  UNION ALL
  SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid)) || ' '
         || coalesce(p.proacl::text, '-')
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'reg ' || signature FROM zyzzyva.function_registry
  UNION ALL
  SELECT 'reg ' || schema_name || '.' || table_name FROM zyzzyva.table_registry) s
};
my $rows_sql = q{
SELECT (SELECT string_agg(c::text, ';' ORDER BY c.id) FROM customers c) || ' | '
    || (SELECT string_agg(k::text, ';' ORDER BY k.id) FROM counters k)
};

# --- M1: the shop ---
migrate('create the tables and functions, replicate them', q{
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE counters (id integer PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
CREATE TABLE legacy_orders (id integer PRIMARY KEY, customer integer, total numeric);
INSERT INTO counters SELECT g, 0 FROM generate_series(1, 10) AS g;
INSERT INTO legacy_orders VALUES (1, 1, 9.99);
CREATE FUNCTION add_customer(i integer, nm text) RETURNS integer LANGUAGE sql
    AS $f$ INSERT INTO customers (id, name) VALUES (i, nm) RETURNING id $f$;
CREATE FUNCTION bump(i integer) RETURNS bigint LANGUAGE sql
    AS $f$ UPDATE counters SET n = n + 1 WHERE id = i RETURNING n $f$;
SELECT zyzzyva.replicate_table('customers');
SELECT zyzzyva.replicate_table('counters');
SELECT zyzzyva.replicate_table('legacy_orders');
SELECT zyzzyva.replicate_function('add_customer(integer,text)');
SELECT zyzzyva.replicate_function('bump(integer)');
});
ok($zz->converged(\@all, 0), 'every replica applied the shop');
$zz->q1($_ % $n, "SELECT add_customer($_, 'customer $_')") for 1 .. 12;
is($zz->q1(3, 'SELECT count(*) FROM customers'), '12', 'customers added through every replica');

# --- the load: clients on replicas 0 and 1 calling bump() ---
my $script = "$PostgreSQL::Test::Utils::tmp_check/bump.sql";
open(my $sfh, '>', $script) or die;
print $sfh "\\set a random(1, 10)\nSELECT bump(:a);\n";
close($sfh);
my @load = map { $zz->pgbench_start($_, 2, 150, $script) } (0, 1);

# --- M2, M3: a column, backfilled by a replicated function ---
migrate('add a column', 'ALTER TABLE customers ADD COLUMN email text');
migrate('a replicated function that backfills it', q{
CREATE FUNCTION backfill_emails() RETURNS integer LANGUAGE sql AS $f$
    WITH u AS (UPDATE customers SET email = 'c' || id || '@shop.example' WHERE email IS NULL RETURNING 1)
    SELECT count(*)::integer FROM u $f$;
SELECT zyzzyva.replicate_function('backfill_emails()');
});
is($zz->q1(0, 'SELECT backfill_emails()'), '12', 'the backfill runs as a replicated call');

# --- replica 3 stops: server and sidecar ---
ok($zz->converged(\@all, 0), 'every replica has the backfill');
my $stopped_at = $zz->q1(3, 'SELECT last_applied_seq FROM zyzzyva.status');
is($zz->stop_daemon(3), 0, "replica 3's sidecar stopped at batch $stopped_at");
$node[3]->stop('fast');
pass("replica 3's server stopped");

# --- M4 .. M10 without replica 3 ---
migrate('rename a column, and replace the function that writes it', q{
ALTER TABLE customers RENAME COLUMN name TO full_name;
CREATE OR REPLACE FUNCTION add_customer(i integer, nm text) RETURNS integer LANGUAGE sql
    AS $f$ INSERT INTO customers (id, full_name, email) VALUES (i, nm, 'c' || i || '@shop.example')
          RETURNING id $f$;
});
migrate('change a column type', 'ALTER TABLE customers ALTER COLUMN id TYPE bigint');
migrate('add a constraint', q{ALTER TABLE customers ADD CONSTRAINT email_has_at CHECK (email LIKE '%@%')});
migrate('add an index', 'CREATE INDEX customers_email ON customers (email)');
$zz->q1($_ % 3, "SELECT add_customer($_, 'late customer $_')") for 13 .. 18;
migrate('add a column to the hot table', 'ALTER TABLE counters ADD COLUMN touched timestamptz');
migrate('replace the hot function', q{
CREATE OR REPLACE FUNCTION bump(i integer) RETURNS bigint LANGUAGE sql
    AS $f$ UPDATE counters SET n = n + 1, touched = zyzzyva.now() WHERE id = i RETURNING n $f$;
});
migrate('drop a function', 'DROP FUNCTION backfill_emails()');

# --- replica 3 comes back ---
$node[3]->start;
$zz->start_daemon(3);
ok($zz->wait_until(30, sub { $zz->ready(3) }), "replica 3 restarted (it stopped at batch $stopped_at)");

# --- M11 .. M14 with replica 3 catching up ---
migrate('drop a constraint and an index',
	'ALTER TABLE customers DROP CONSTRAINT email_has_at; DROP INDEX customers_email');
migrate('drop a table', 'DROP TABLE legacy_orders');
migrate('grant and revoke',
	'GRANT SELECT ON customers TO app_reader; REVOKE EXECUTE ON FUNCTION add_customer(integer, text) FROM PUBLIC');

# --- replica 2's sidecar killed right after a migration: it resumes at its
# stable checkpoint, rolls back what is above it (schema changes included)
# and fetches those batches again ---
{
	my $ddl_seq = $zz->q1(2, 'SELECT max(seq) FROM zyzzyva.ddl_history');
	$zz->kill_daemon(2);
	$zz->start_daemon(2);
	ok($zz->wait_until(30, sub { $zz->ready(2) }), "replica 2's sidecar killed (-9) and started again");
	my ($from, $to) = $zz->daemon_log(2) =~ /resumed at stable checkpoint \d+ kept in the database; its batches (\d+) \.\. (\d+) are rolled back/;
	diag("replica 2 resumed: batches " . ($from // '?') . ' .. ' . ($to // '?')
		  . " rolled back and fetched again; the last migration was batch $ddl_seq");
}
migrate('drop a column', 'ALTER TABLE customers DROP COLUMN email');
cmp_ok($migrations, '>=', 10, "$migrations migrations");

my $ok = 1;
for my $r (@load)
{
	my ($done, $out) = $zz->pgbench_finish($r);
	$ok &&= $done && $out =~ m{actually processed: 300/300};
	diag($out) unless $done && $out =~ m{actually processed: 300/300};
}
ok($ok, 'the load: 600 calls of bump() through replicas 0 and 1, all completed across the migrations');

# more calls, so that replica 3 catches up and a checkpoint follows the
# last migration
for (1 .. 60)
{
	$zz->q1($_ % 3, 'SELECT bump(1)');
	last if $_ > 20 && $zz->q1(3, 'SELECT last_applied_seq FROM zyzzyva.status')
	  == $zz->q1(0, 'SELECT last_applied_seq FROM zyzzyva.status')
	  && $zz->q1(0, 'SELECT stable_seq FROM zyzzyva.status') > $zz->q1(0, "SELECT max(seq) FROM zyzzyva.ddl_history");
}
ok($zz->converged(\@all, 1), 'every replica applied the same batches, past a stable checkpoint');
diag('replica 3: ' . $zz->q1(3, q{SELECT 'transfers installed ' || transfers_installed || ', stable ' || stable_seq
	|| ', DDL requests ' || (SELECT count(*) FROM zyzzyva.ddl_history) FROM zyzzyva.status}));

# --- the same schema, rows and digests everywhere ---
my @schema = map { $zz->q1($_, $schema_sql) } @all;
is(scalar(ZZPG::uniq(@schema)), 1, 'the same schema on the four replicas');
like($schema[3], qr/col customers\.id bigint/, '... with the type change')
  and like($schema[3], qr/col customers\.full_name text/, '... the renamed column')
  and like($schema[3], qr/col counters\.touched timestamp with time zone/, '... the added column');
unlike($schema[3], qr/legacy_orders|email|backfill_emails/, '... and without what was dropped');
like($schema[3], qr/rel customers r \{[^}]*app_reader=r/, '... the grant');
is(scalar(ZZPG::uniq(map { $zz->q1($_, $rows_sql) } @all)), 1, 'the same rows on the four replicas');
is(scalar(ZZPG::uniq(map { $zz->q1($_, 'SELECT count(*) || \' \' || string_agg(sql, \'|\' ORDER BY seq, request) FROM zyzzyva.ddl_history') } @all)),
	1, 'the same schema history');
my @digest = map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } @all;
is(scalar(ZZPG::uniq(@digest)), 1, "equal state digests ($digest[0])");
# the same checkpoint, once each replica has marked it (they learn of its
# certificate at slightly different times)
my @stable;
$zz->wait_until(
	30,
	sub {
		@stable = map {
			$zz->q1($_, "SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), 'none') FROM zyzzyva.status")
		} @all;
		return ZZPG::uniq(@stable) == 1;
	});
is(scalar(ZZPG::uniq(@stable)), 1, "the same certified stable checkpoint digest ($stable[0])");
is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } @all), 't,t,t,t',
	'each digest matches its rows');
is($zz->q1(0, 'SELECT sum(n) FROM counters'), $zz->q1(3, 'SELECT sum(n) FROM counters'),
	'replica 3 counts every call');

# --- a migration rolled back by a view change ---
{
	my $vc = $zz;
	my @vnode = @node;
	my $mig = q{ALTER TABLE customers ALTER COLUMN full_name TYPE varchar(200);
ALTER TABLE customers ADD COLUMN note text DEFAULT 'none';
GRANT SELECT ON customers TO PUBLIC};
	my $propose = "SELECT zyzzyva.replicated_ddl(\$mig\$$mig\$mig\$)";
	$vnode[1]->safe_psql('postgres', $propose);
	ok($vc->converged(\@all, 0), 'view change: the first proposal, through replica 1, is everywhere');
	my $schema0 = $vc->q1(1, $schema_sql);
	my $seq0 = $vc->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status');
	my $next = $seq0 + 1;
	ok(!grep({ !$vc->reconfigure($_, "test_withhold_order_req = 0 $next 1") } @all),
		"view change: batch $next of view 0 will reach replica 1 only");
	# counted before the proposal goes out: on a fast machine replica 1 may
	# apply it before the next statement here runs
	my $ddl0 = $vc->q1(1, q{SELECT count(*) FROM zyzzyva.ddl_history});
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-h', $vnode[2]->host, '-p', $vnode[2]->port, '-d', 'postgres', '-c', $propose ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	ok( $vc->wait_until(10, sub { $vc->q1(1, q{SELECT count(*) FROM zyzzyva.ddl_history}) == $ddl0 + 1 }),
		'view change: the deciding proposal, through replica 2, applies the migration on replica 1 speculatively');
	is($vc->q1(1, q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'customers'::regclass AND attname = 'full_name'}), 'character varying(200)',
		'... its database shows the new type');
	is($vc->q1(2, 'SELECT count(*) FROM zyzzyva.ddl_history'), $ddl0, 'replica 2 never saw it');
	$vc->kill_daemon(0);
	my $done = eval { $h->finish; 1 } && $h->result == 0;
	$h->kill_kill unless $done;
	ok($done, 'view change: the proposal completes after the primary\'s sidecar is killed') or diag($err);
	ok($vc->converged([ 1 .. 3 ], 0), 'replicas 1-3 apply the same batches');
	cmp_ok($vc->status(1)->{pg_rollbacks} // 0, '>=', 1,
		'replica 1 rolled its database back, the migration with it (zyzzyva.rollback_to)');
	is(join(',', map { $vc->q1($_, 'SELECT count(*) || \' \' || max(seq) FROM zyzzyva.ddl_history') } 1 .. 3),
		join(',', ($vc->q1(3, 'SELECT count(*) || \' \' || max(seq) FROM zyzzyva.ddl_history')) x 3),
		'... and applied it again in view 1, at the same batch as replicas 2 and 3');
	my @vschema = map { $vc->q1($_, $schema_sql) } 1 .. 3;
	is(scalar(ZZPG::uniq(@vschema)), 1, 'replicas 1-3 have the same schema');
	isnt($vschema[0], $schema0, '... the migrated one');
	is(scalar($vc->digests([ 1 .. 3 ])), 1, 'replicas 1-3 have equal state digests');
	is(join(',', map { $vc->q1($_, 'SELECT zyzzyva.verify_digest()') } 1 .. 3),
		't,t,t', 'each digest matches its rows after the rollback');
	$vc->stop_daemon($_) for 1 .. 3;
	$vc->node($_)->stop for @all;
}
done_testing();
