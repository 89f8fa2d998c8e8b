# Asynchronous batch commit (batch_commit = async, docs/durability.md):
# the PostgreSQL servers of up to f replicas are killed (kill -9 of the
# postmaster: an immediate stop, what was not yet written of the WAL is
# lost) under load and started again.  A batch whose transaction committed
# without waiting for its WAL flush may be gone from the restarted
# database; its sidecar, which keeps every batch until the database's own
# stable checkpoint (flushed, mark_stable) covers it, applies it again.
# After each round:
#   - every call a client saw complete is in the ledger of every replica,
#     exactly once, and the balances sum to what they did;
#   - all four replicas reach the same batch and a stable checkpoint, with
#     equal state digests that match their rows.
# The last round kills the server and the sidecar of one replica at once
# (a host that lost power): it resumes at its durable stable checkpoint.
#
# The WAL writer is slowed down (wal_writer_delay = 10s) so that a kill
# finds committed batches whose WAL is still only in shared memory.
#
# Needs ZZ_BUILD and ZZ_TOOLS (make tap-check or make pg-daemon-test).
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
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $seed = $ENV{ZZ_SEED} || (time() ^ $$);
diag("ZZ_SEED=$seed");

my $zz = ZZPG->new(
	name => 'async',
	settings => { checkpoint_interval => 8, batch_commit => 'async' },
	pg_conf => "wal_writer_delay = 10s\n",
	sql => [ ZZPG::ledger_sql() ]);
srand($seed);
my $n = $zz->n;
is(join(',', map { $zz->status($_)->{pg_batch_commit} // '?' } 0 .. $n - 1),
	join(',', ('async') x $n), 'every sidecar commits its batches asynchronously');
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');

# the primary's server, a backup's server, then a whole backup host
my @rounds = ([ 0, 'server' ], [ 1 + int(rand($n - 1)), 'server' ], [ 1 + int(rand($n - 1)), 'both' ]);
my $r = 0;
for my $round (@rounds)
{
	my ($victim, $what) = @$round;
	$r++;
	my @load = grep { $_ != $victim } 0 .. $n - 1;
	@load = @load[ 0, 1 ];
	diag("round $r: kill -9 the $what of replica $victim under load on replicas @load");
	my @runs = map { $zz->pay_start($_, $zz->take_ids(40), 40) } @load;

	usleep(int(300_000 + rand(1_000_000)));
	$zz->kill_daemon($victim) if $what eq 'both';
	$zz->node($victim)->kill9;
	usleep(int(300_000 + rand(700_000)));
	$zz->start_server($victim) or BAIL_OUT("server $victim does not start again");
	$zz->start_daemon($victim) if $what eq 'both';

	my $ok = 1;
	for my $run (@runs)
	{
		my ($rc, $ids, $out) = $zz->pay_finish($run);
		$zz->add_completed(@$ids);
		$ok &&= $rc == 0;
		diag($out) if $rc != 0;
	}
	ok($ok, "round $r: every call on replicas @load completed");
	ok($zz->settle($load[0], 10), "round $r: all four replicas reach the same batch and a stable checkpoint")
	  or last;
	$zz->check_ledgers("round $r", $total);
}

my $replayed = 0;
$replayed += $zz->status($_)->{pg_replayed} // 0 for 0 .. $n - 1;
diag("batches applied again after a server lost them: $replayed");

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
