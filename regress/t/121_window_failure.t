# The database fails under a sidecar with several batches handed over
# (exec_window = 4, docs/durability.md): its connections are cut
# (pg_terminate_backend of the backends of its login role) while the
# batch it applies waits for a lock the test holds and the next ones wait
# behind it on the pipeline, three times per round under concurrent load,
# on a backup and on the primary; in the last round a server is restarted
# under load.  Batches in flight on the cut connection fail without a
# reply; the sidecar must take them back in order on a new connection:
# neither applied twice nor lost, and every replica ends in agreement.
# After each round:
#   - every call a client saw complete is in the ledger of every replica,
#     exactly once, and the balances sum to what they did;
#   - all four replicas reach the same batch and a stable checkpoint, with
#     equal state digests that match their rows;
#   - calls go on.
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
	name => 'window',
	settings => { checkpoint_interval => 8, exec_window => 4 },
	sql => [ ZZPG::ledger_sql() ]);
srand($seed);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
ok($zz->pay(1, 10), 'calls complete before any failure');

# Cut replica $v's sidecar connections (its login role, zyzzyvad: the
# batches' connection and the ones that check and transfer state) with
# batches in flight: a session of the test holds a lock on accounts that
# every batch needs, so that the batch being applied waits for it and the
# next ones the core hands over wait behind it on the pipeline; the cut
# comes once the sidecar's backend waits on the lock, and the lock goes
# with it.  The number of backends ended (0: the sidecar never waited),
# and the sidecar's operations on the pipeline just before.
sub cut
{
	my ($v) = @_;
	my $bg = $zz->node($v)->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe('LOCK TABLE accounts IN SHARE MODE');
	my $waits = $zz->wait_until(
		10,
		sub {
			$zz->q1($v,
				"SELECT count(*) FROM pg_stat_activity WHERE usename = 'zyzzyvad' "
				  . "AND wait_event_type = 'Lock'") > 0;
		});
	usleep(300_000);    # the next batches join it on the pipeline
	my $inflight = $zz->status($v)->{pg_inflight_ops} // 0;
	my $ended = $waits
	  ? $zz->q1($v,
		"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
		  . "WHERE usename = 'zyzzyvad'")
	  : 0;
	$bg->query_safe('COMMIT');
	$bg->quit;
	return ($ended, $inflight);
}

# a backup, the primary, another backup: three cuts each, under load;
# then a backup's server restarted under load
my @rounds = ([ 1 + int(rand($n - 1)), 'cut' ], [ 0, 'cut' ], [ 1 + int(rand($n - 1)), 'cut' ],
	[ 1 + int(rand($n - 1)), 'restart' ]);
my ($r, $cuts, $max_inflight) = (0, 0, 0);
for my $round (@rounds)
{
	my ($victim, $what) = @$round;
	$r++;
	my @load = grep { $_ != $victim } 0 .. $n - 1;
	diag("round $r: "
		  . ($what eq 'cut' ? "cut replica ${victim}'s database connections" : "restart replica ${victim}'s server")
		  . " under load on replicas @load and $victim");
	my $connects = $zz->status($victim)->{pg_connects} // 0;
	# enough calls that the load still runs at the third cut on a fast
	# machine (30 a replica were done before it, and nothing waited)
	my @runs = map { $zz->pay_start($_, $zz->take_ids(120), 120) } @load, $victim;

	if ($what eq 'cut')
	{
		for (1 .. 3)
		{
			usleep(int(200_000 + rand(500_000)));
			my ($ended, $inflight) = cut($victim);
			$cuts += $ended;
			$max_inflight = $inflight if $ended && $inflight > $max_inflight;
		}
	}
	else
	{
		usleep(int(300_000 + rand(500_000)));
		$zz->node($victim)->restart;
	}

	my $ok = 1;
	for my $run (@runs)
	{
		my ($rc, $ids, $out) = $zz->pay_finish($run);
		$zz->add_completed(@$ids);
		$ok &&= $rc == 0;
		diag($out) if $rc != 0;
	}
	ok($ok, "round $r: every call on replicas @load and $victim completed");
	ok($zz->wait_until(10, sub { ($zz->status($victim)->{pg_connects} // 0) > $connects }),
		"round $r: replica ${victim}'s sidecar connected again");
	ok($zz->settle($load[0], 10), "round $r: all four replicas reach the same batch and a stable checkpoint")
	  or last;
	$zz->check_ledgers("round $r", $total);
}
cmp_ok($cuts, '>=', 6, "$cuts sidecar backends were ended");

cmp_ok($max_inflight, '>=', 2,
	"a cut found up to $max_inflight operations of the sidecar on the pipeline");
my $lost = 0;
$lost += () = $zz->daemon_log($_) =~ /postgres: connection lost: /g for 0 .. $n - 1;
cmp_ok($lost, '>=', 6, "the sidecars saw $lost connections lost, and reconnected");
ok($zz->pay(2, 10), 'calls go on');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
