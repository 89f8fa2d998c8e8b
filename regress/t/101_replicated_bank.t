# Four PostgreSQL servers and four sidecars (zyzzyvad, service = postgres)
# on loopback: a bank whose transfer() is replicated.
#
#   - plain SQL calls on every replica, concurrently (pgbench), all complete;
#   - after a checkpoint the four databases have equal state digests (also
#     recorded with the stable checkpoint) that match their rows;
#   - read-your-writes on the calling replica; zyzzyva.now() is the
#     primary's wall-clock time, the same on every replica;
#   - bad calls get the function's or the extension's error as their
#     reply, the same on every replica, and change nothing;
#   - a backup's PostgreSQL restarted: its sidecar reconnects and catches up;
#   - a backup's sidecar killed under load: every call still completes.
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
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $sig = 'public.transfer(integer,integer,bigint)';
my $zz = ZZPG->new(
	name => 'bank',
	settings => { checkpoint_interval => 32 },
	sql => [
		slurp_file("$ZZPG::tools/bank.sql"), q{
CREATE FUNCTION whattime() RETURNS timestamptz LANGUAGE sql AS $$ SELECT zyzzyva.now() $$;
SELECT zyzzyva.replicate_function('whattime()');
}
	]);
my $n = $zz->n;
my @node = map { $zz->node($_) } 0 .. $n - 1;
pass('four servers and four sidecars, connected to each other and to their databases');

# --- concurrent plain SQL calls on every replica ---
my $script = "$PostgreSQL::Test::Utils::tmp_check/transfers.sql";
open(my $sfh, '>', $script) or die;
print $sfh "\\set a random(1, 100)\n\\set b random(1, 100)\n\\set amount random(1, 10)\n",
  "SELECT transfer(:a, :b, :amount);\n";
close($sfh);
my @runs = map { $zz->pgbench_start($_, 2, 12, $script) } 0 .. $n - 1;
my $all = 1;
for my $i (0 .. $n - 1)
{
	my ($ok, $out) = $zz->pgbench_finish($runs[$i]);
	$all &&= $ok && $out =~ m{actually processed: 24/24};
	diag($out) unless $ok;
}
ok($all, 'pgbench: 2 clients on each of the 4 replicas, 12 replicated calls each, all complete');

# More calls, one batch each, until a checkpoint is stable on replica 0
# (batching may have kept the batch count below two checkpoint intervals).
for (1 .. 100)
{
	last if $zz->q1(0, 'SELECT stable_seq FROM zyzzyva.status') > 0;
	my ($rc, $out) = $zz->cli($_ % $n, '--call', $sig, '3 4 1', '4 3 1');
	last if $rc != 0;
}

ok($zz->converged([0 .. $n - 1], 1), 'every replica applied the same batches, past a stable checkpoint');
my @digest = map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1;
is(scalar(ZZPG::uniq(@digest)), 1, "equal state digests on the four replicas ($digest[0])");
my @stable = map {
	$zz->q1($_, "SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), 'none') FROM zyzzyva.status")
} 0 .. $n - 1;
is(scalar(ZZPG::uniq(@stable)), 1, "... and the same stable checkpoint and its digest ($stable[0])");
unlike($stable[0], qr/none|^0 /, '... which the sidecar recorded');
is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1),
	't,t,t,t', 'each digest matches its rows');
is(join(',', map { $zz->q1($_, 'SELECT sum(balance) FROM accounts') } 0 .. $n - 1),
	'100000,100000,100000,100000', 'no money made or lost');

# --- read-your-writes, and the primary's time ---
{
	my $before = $zz->q1(3, 'SELECT balance FROM accounts WHERE id = 5');
	my $out = $node[3]->safe_psql('postgres',
		"SELECT transfer(5, 6, 1);\nSELECT balance FROM accounts WHERE id = 5;");
	is($out, ($before - 1) . "\n" . ($before - 1),
		'the statement after a call on replica 3 reads its effect there');

	my $t = $zz->q1(1, "SELECT extract(epoch FROM whattime())");
	cmp_ok(abs($t - time()), '<', 120, 'zyzzyva.now() in a replicated call is the wall clock');
	ok($zz->converged([0 .. $n - 1], 0), 'replicas converge again');
	my $seq = $zz->q1(1, 'SELECT max(seq) FROM zyzzyva.batch_log');
	is(scalar(ZZPG::uniq(map { $zz->q1($_, "SELECT nd_time FROM zyzzyva.batch_log WHERE seq = $seq") } 0 .. $n - 1)),
		1, '... and every replica executed it with the same nd_time');
}

# --- bad calls ---
{
	my %bad = (
		'unknown function' => [ [ '--call', 'public.nosuch(integer)', '1' ],
			qr/^ERROR 42883: function public\.nosuch\(integer\) is not replicated$/ ],
		'wrong argument count' => [ [ '--call', $sig, '1 2' ],
			qr/^ERROR 22P03: malformed request: .*takes 3 arguments/ ],
		'argument not of its type' => [ [ '--call', $sig, '1 2 lots' ],
			qr/^ERROR 22P02: invalid input syntax for type bigint: "lots"$/ ],
		'the function raises' => [ [ '--call', $sig, '1 2 -5' ],
			qr/^ERROR P0001: amount must be positive, not -5$/ ],
		'not a call at all' => [ [ '--decode', '--', 'GET key' ],
			qr/^ERROR 22P03: malformed request: / ],);
	for my $what (sort keys %bad)
	{
		my ($args, $want) = @{ $bad{$what} };
		my ($rc, $out) = $zz->cli(2, @$args);
		is($rc, 0, "bad call ($what) completes") or diag($out);
		like($out, $want, "... with the error as its reply");
	}
	my ($ret, $stdout, $stderr) = $node[0]->psql('postgres', 'SELECT transfer(1, 2, 0)');
	like($stderr, qr/ERROR:  amount must be positive, not 0/,
		'through SQL, the function\'s error is raised in the caller');
	ok($zz->converged([0 .. $n - 1], 0), 'replicas converge after the bad calls');
	is(scalar(ZZPG::uniq(map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1)),
		1, '... with equal digests');
	is($zz->q1(0, 'SELECT sum(balance) FROM accounts'), '100000', '... and nothing changed by them');
}

# --- a backup's PostgreSQL restarted ---
{
	my $before = $zz->status(2)->{pg_connects};
	$node[2]->stop('immediate');
	my ($rc, $out) = $zz->cli(0, '--call', $sig, '20 21 3', '21 20 1', '22 23 2');
	is($rc, 0, 'calls complete while a backup\'s database is down') or diag($out);
	$node[2]->start;
	ok($zz->wait_until(30, sub { ($zz->status(2)->{pg_connects} // 0) > $before && $zz->status(2)->{pg_state} eq 'ready' }),
		'its sidecar reconnects');
	# One more call: if the outage spanned the edge of replica 2's window
	# (its next checkpoint could not become stable without its database),
	# the ORDER-REQs beyond it were dropped, and the hole is noticed at the
	# next one (the core does not ask for them when its window moves).
	($rc, $out) = $zz->cli(1, '--call', $sig, '23 22 2');
	is($rc, 0, 'calls go on') or diag($out);
	ok($zz->converged([0 .. $n - 1], 0), '... and replica 2 applies what it missed');
	is(scalar(ZZPG::uniq(map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1)),
		1, '... to the same state');
}

# --- a backup's sidecar killed under load ---
{
	my $commits = sub {
		my $sum = 0;
		$sum += $zz->status($_)->{requests_completed_commit} // 0 for 0 .. 2;
		return $sum;
	};
	my $commit0 = $commits->();
	my $done0 = $zz->status(0)->{requests_completed_fast} // 0;
	my @load = map { $zz->pgbench_start($_, 2, 60, $script) } 0 .. 2;
	# under way: some calls done, most to come
	$zz->wait_until(10, sub { ($zz->status(0)->{requests_completed_fast} // 0) >= $done0 + 5 });
	$zz->kill_daemon(3);
	my $all_ok = 1;
	for my $r (@load)
	{
		my ($ok, $out) = $zz->pgbench_finish($r);
		$all_ok &&= $ok && $out =~ m{actually processed: 120/120};
		diag($out) unless $ok;
	}
	ok($all_ok, 'replica 3\'s sidecar killed under load: every call on replicas 0-2 completes');
	cmp_ok($commits->(), '>', $commit0, '... through the commit path');
	ok($zz->converged([0 .. 2], 0), 'replicas 0-2 apply the same batches');
	is(scalar(ZZPG::uniq(map { $zz->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. 2)),
		1, '... with equal digests');
	my $t0 = time();
	my ($ret, $o, $e) = $node[3]->psql('postgres', 'SELECT transfer(1, 2, 1)', timeout => 60);
	isnt($ret, 0, 'a call on replica 3, whose sidecar is gone, fails');
	cmp_ok(time() - $t0, '<', 40, '... without hanging');
}

for my $i (0 .. 2)
{
	is($zz->stop_daemon($i), 0, "sidecar $i exits 0 on SIGTERM");
}
$node[$_]->stop for 0 .. $n - 1;
done_testing();
