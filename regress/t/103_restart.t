# Replicas killed (kill -9) under load and restarted: nothing completed is
# ever lost, nothing is applied twice, and every replica catches up.
#
# Each round picks a replica at random (at most f = 1 down at a time) and
# kills, at a random moment while two load generators run on two other
# replicas, its sidecar, its PostgreSQL server, or both.  It is restarted
# after a pause.  A sidecar restarted on its database resumes at the stable
# checkpoint kept there (zyzzyva.replica_state), rolls the rest back and
# fetches it again from the others (or transfers state, if they truncated
# it).  After each round:
#   - every call a load generator saw complete is in the ledger of every
#     replica, and no call is in it twice;
#   - the sum of the balances is what it was;
#   - all four replicas reach the same batch and a stable checkpoint, with
#     equal state digests that match their rows.
#
# ZZ_KILL_ROUNDS (default 4) sets the number of rounds; ZZ_SEED fixes the
# random choices (the seed is printed, so a failing run can be replayed).
# The soak run of issue 6 is ZZ_KILL_ROUNDS=20.
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

my $rounds = $ENV{ZZ_KILL_ROUNDS} || 4;
my $seed = $ENV{ZZ_SEED} || (time() ^ $$);
diag("ZZ_SEED=$seed ZZ_KILL_ROUNDS=$rounds");

my $zz = ZZPG->new(
	name => 'kill',
	settings => { checkpoint_interval => 8 },
	sql => [ ZZPG::ledger_sql() ]);
srand($seed);	# after the setup, which draws free ports at random
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
for my $round (1 .. $rounds)
{
	my $victim = int(rand($n));
	my $what = (qw(sidecar server both))[ int(rand(3)) ];
	my @load = grep { $_ != $victim } 0 .. $n - 1;
	@load = @load[ 0, 1 ];
	diag("round $round: kill the $what of replica $victim");
	my @runs = map { $zz->pay_start($_, $zz->take_ids(40), 40) } @load;

	usleep(int(200_000 + rand(1_500_000)));
	$zz->kill_daemon($victim) if $what ne 'server';
	$zz->node($victim)->kill9 if $what ne 'sidecar';
	usleep(int(300_000 + rand(1_000_000)));
	$zz->start_server($victim) or BAIL_OUT("server $victim does not start again")
	  if $what ne 'sidecar';
	$zz->start_daemon($victim) if $what ne 'server';

	my $ok = 1;
	for my $r (@runs)
	{
		my ($rc, $ids, $out) = $zz->pay_finish($r);
		$zz->add_completed(@$ids);
		$ok &&= $rc == 0;
		diag($out) if $rc != 0;
	}
	ok($ok, "round $round: $what of replica $victim killed; every call on replicas @load completed");
	ok($zz->settle($load[0], 10), "round $round: all four replicas reach the same batch and a stable checkpoint")
	  or last;

	$zz->check_ledgers("round $round", $total);
}

my $resumed = grep { ($zz->status($_)->{pg_resumed_at} // 0) > 0 } 0 .. $n - 1;
diag("sidecars that resumed from their database's checkpoint: $resumed");

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
