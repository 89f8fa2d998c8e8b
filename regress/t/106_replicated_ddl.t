# Four PostgreSQL servers and four sidecars (zyzzyvad, service = postgres)
# that start with nothing but the extension: the schema is set up through
# ONE replica with zyzzyva.replicated_ddl(), as a replicated request.
#
#   - the bank's schema (sidecar/tools/bank.sql, unchanged) proposed
#     through replica 1 alone applies nowhere; proposed again through
#     replica 2 (f+1 = 2 replicas) it reaches every replica, at the same
#     point in the order; the calling session reads it at once;
#   - a refused DDL request fails on the caller with its SQLSTATE and
#     changes nothing anywhere;
#   - a second DDL request through two other replicas declares another
#     function, callable everywhere;
#   - plain SQL calls on every replica (pgbench), then equal digests at a
#     stable checkpoint, each matching its rows;
#   - the status views read from the local sidecar: 3 connected peers,
#     calls completed on the fast path.
#
# Needs the daemon's binaries: ZZ_BUILD and ZZ_TOOLS (set by the Makefile's
# tap-check and pg-daemon-test); the harness is sidecar/daemon/tests/lib/ZZPG.pm.
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

my $sig = 'public.transfer(integer,integer,bigint)';
my $zz = ZZPG->new(
	name => 'ddl',
	settings => { checkpoint_interval => 32 },
	sql => []);
my $n = $zz->n;
my @all = 0 .. $n - 1;
my @node = map { $zz->node($_) } @all;
pass('four servers with nothing but the extension, four sidecars');
is(scalar($zz->digests(\@all)), 1, 'the four empty replicas have equal digests');

# --- the bank's schema: proposed through replica 1, then through replica 2 ---
my $bank = slurp_file("$ZZPG::tools/bank.sql");
{
	$node[1]->safe_psql('postgres', "SELECT zyzzyva.replicated_ddl(\$ddl\$$bank\$ddl\$);");
	ok($zz->converged(\@all, 0), 'a DDL request through replica 1 alone is ordered everywhere');
	is(join(',', map { $zz->q1($_, q{SELECT count(*) FROM zyzzyva.replicated_tables}) . '/'
			  . $zz->q1($_, q{SELECT string_agg(replica || ':' || replicas, ',') FROM zyzzyva.ddl_proposals}) } @all),
		join(',', ('0/1:1') x $n), '... but applies nowhere: one replica\'s proposal, pending on every replica');
	my $out = $node[2]->safe_psql('postgres',
		"SELECT zyzzyva.replicated_ddl(\$ddl\$$bank\$ddl\$);\n"
		  . "SELECT count(*), sum(balance) FROM accounts;\n"
		  . "SELECT path, sqlstate FROM zyzzyva.last_call();");
	my @lines = split /\n/, $out;
	is($lines[-2], '100|100000', 'replica 2 proposes the same text (f+1 = 2 replicas): it applies, and the next statement reads its rows');
	like($lines[-1], qr/^(fast|commit)\|00000$/, '... a replicated call that completed');
}
ok($zz->converged(\@all, 0), 'every replica applied the same batches');
is(join(',', map { $zz->q1($_, q{SELECT count(*) || ':' || string_agg(table_name, ',') FROM zyzzyva.replicated_tables}) } @all),
	join(',', ('1:accounts') x $n), 'every replica has the replicated table');
is(join(',', map { $zz->q1($_, q{SELECT string_agg(signature, ',') FROM zyzzyva.replicated_functions}) } @all),
	join(',', ($sig) x $n), '... and the replicated function');
is(join(',', map { $zz->q1($_, 'SELECT count(*) FROM zyzzyva.ddl_history') } @all),
	join(',', (1) x $n), '... and the request in its DDL history, at the same sequence number')
  or diag(join ' ', map { $zz->q1($_, 'SELECT seq FROM zyzzyva.ddl_history') } @all);
is(scalar(ZZPG::uniq(map { $zz->q1($_, 'SELECT seq FROM zyzzyva.ddl_history') } @all)), 1,
	'... the same sequence number everywhere');
is(scalar($zz->digests(\@all)), 1, 'equal state digests');

# --- a refused DDL request ---
{
	my ($ret, $stdout, $stderr) = $node[2]->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT zyzzyva.replicated_ddl('DROP TABLE accounts; CREATE TEMPORARY TABLE s (id integer PRIMARY KEY)')");
	like($stderr, qr/ERROR:  0A000: CREATE TEMPORARY TABLE is not supported in a replicated DDL request/,
		'a request with a statement it refuses fails through replica 2 with its SQLSTATE');
	ok($zz->converged(\@all, 0), 'replicas converge');
	is(join(',', map { $zz->q1($_, q{SELECT to_regclass('accounts') IS NOT NULL}) } @all),
		't,t,t,t', '... and the table is still there everywhere');
}

# --- a second DDL request through replicas 0 and 3 ---
{
	my $deposit = q{
CREATE FUNCTION deposit(account integer, amount bigint) RETURNS bigint
LANGUAGE sql AS $f$
    UPDATE accounts SET balance = balance + amount WHERE id = account RETURNING balance
$f$;
SELECT zyzzyva.replicate_function('deposit(integer,bigint)');
};
	$node[0]->safe_psql('postgres', "SELECT zyzzyva.replicated_ddl(\$ddl\$$deposit\$ddl\$)");
	$node[3]->safe_psql('postgres', "SELECT zyzzyva.replicated_ddl(\$ddl\$$deposit\$ddl\$)");
	ok($zz->converged(\@all, 0), 'a second DDL request through replicas 0 and 3 reaches everyone');
	is($zz->q1(0, 'SELECT deposit(7, 5)'), '1005', '... and replica 0 calls the function it declared');
}

# --- calls on every replica ---
my $script = "$PostgreSQL::Test::Utils::tmp_check/ddl_transfers.sql";
open(my $sfh, '>', $script) or die;
print $sfh "\\set a random(1, 100)\n\\set b random(1, 100)\n\\set amount random(1, 10)\n",
  "SELECT transfer(:a, :b, :amount);\n";
close($sfh);
my @runs = map { $zz->pgbench_start($_, 2, 12, $script) } @all;
my $ok = 1;
for my $i (@all)
{
	my ($done, $out) = $zz->pgbench_finish($runs[$i]);
	$ok &&= $done && $out =~ m{actually processed: 24/24};
	diag($out) unless $done;
}
ok($ok, 'pgbench: 2 clients on each of the 4 replicas, 12 replicated calls each, all complete');

for (1 .. 100)
{
	last if $zz->q1(0, 'SELECT stable_seq FROM zyzzyva.status') > 0;
	my ($rc, $out) = $zz->cli($_ % $n, '--call', $sig, '3 4 1', '4 3 1');
	last if $rc != 0;
}
ok($zz->converged(\@all, 1), 'every replica applied the same batches, past a stable checkpoint');
my @digest = map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } @all;
is(scalar(ZZPG::uniq(@digest)), 1, "equal state digests on the four replicas ($digest[0])");
my @stable = map {
	$zz->q1($_, "SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), 'none') FROM zyzzyva.status")
} @all;
is(scalar(ZZPG::uniq(@stable)), 1, "... and the same stable checkpoint and its digest ($stable[0])");
is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } @all),
	't,t,t,t', 'each digest matches its rows');
is(join(',', map { $zz->q1($_, 'SELECT sum(balance) FROM accounts') } @all),
	'100005,100005,100005,100005', 'no money made or lost');

# --- the views over the local sidecar's status ---
for my $i (0, 2)
{
	is($zz->q1($i, 'SELECT count(*) FILTER (WHERE connected) || ' . q{'/'} . ' || count(*) FROM zyzzyva.peers'),
		'3/3', "replica $i: zyzzyva.peers shows 3 connected peers");
	is($zz->q1($i, 'SELECT bool_and(address IS NOT NULL AND rtt_us IS NOT NULL AND frames_in > 0) FROM zyzzyva.peers'),
		't', '... with their address, round-trip time and traffic');
	is($zz->q1($i, q{SELECT id || ' ' || n || ' ' || f || ' ' || mode || ' ' || peers_connected || ' ' || (stable_seq > 0) FROM zyzzyva.sidecar}),
		"$i 4 1 normal 3 true", '... zyzzyva.sidecar: its id, n, f, mode, peers, a stable checkpoint');
	is($zz->q1($i, 'SELECT completed_fast > 0 AND batches_executed > 0 AND requests_executed >= batches_executed '
			  . 'AND mean_batch_size >= 1 AND mean_latency_us > 0 FROM zyzzyva.request_stats'),
		't', '... zyzzyva.request_stats: calls completed on the fast path, batches executed');
}
is($zz->q1(1, q{SELECT count(*) FROM zyzzyva.sidecar_status() WHERE key IN ('view', 'mode', 'peers_connected')}),
	'3', 'zyzzyva.sidecar_status() returns the status lines as key and value');

for my $i (@all)
{
	is($zz->stop_daemon($i), 0, "sidecar $i exits 0 on SIGTERM");
}
{
	my $t0 = time();
	my ($ret, $o, $e) = $node[0]->psql('postgres', 'SELECT * FROM zyzzyva.peers', timeout => 60);
	like($e, qr/could not read the status of the zyzzyva sidecar/, 'with its sidecar stopped, the views fail clearly');
	cmp_ok(time() - $t0, '<', 15, '... without hanging');
}
$node[$_]->stop for @all;
done_testing();
