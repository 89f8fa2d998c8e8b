# State transfer between databases: a replica cut off (its sidecar
# stopped with SIGSTOP) while the others run far past its log, so that
# what it lacks is truncated everywhere.  When it comes back it fetches
# the rows of a certified checkpoint from a peer (zyzzyva.snapshot),
# checks them against the digest 2f+1 replicas signed, installs them
# (zyzzyva.install_snapshot) and replays what follows.
#
#   1. replica 3 stopped and resumed: it installs a checkpoint and
#      catches up; the status view shows the transfer.
#   2. replica 0 serves wrong rows (ZZ_TEST_CORRUPT_SNAPSHOT): replica 3,
#      cut off again, rejects them and installs from another peer.
#   3. replica 0 dies when asked for its state
#      (ZZ_TEST_EXIT_ON_STATE_REQUEST): the peer replica 3 was reading from
#      is gone; it asks another and installs.
# After each: every completed call present exactly once everywhere, the
# balances sum up, equal digests.
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

my $zz = ZZPG->new(
	name => 'xfer',
	# no retained log: a replica that lags fetches state (catch-up by replay
	# would replay the batches instead; docs/protocol.md section 7)
	settings => { checkpoint_interval => 4, retain_batches => 0, checkpoint_resend => '300ms' },
	sql => [ ZZPG::ledger_sql() ],
	fault_injection => 1);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
# Cut replica 3 off until the others have truncated well past it, bring
# it back, and wait for its next installed checkpoint.
sub cut_off_and_return
{
	my ($what, $fresh) = @_;
	if ($fresh)
	{
		# a fresh sidecar (resumed from its database) asks the lowest
		# replica id among the checkpoint's signers first: replica 0
		is($zz->stop_daemon(3), 0, "$what: replica 3's sidecar restarted");
		$zz->start_daemon(3);
		ok($zz->wait_until(30, sub { $zz->ready(3) }), "$what: ... and back");
	}
	my $before = $zz->status(3)->{transfers_installed} // 0;
	my $seq = $zz->q1(3, 'SELECT last_applied_seq FROM zyzzyva.status');
	ok($zz->signal_daemon(3, 'STOP'), "$what: replica 3's sidecar stopped at batch $seq");
	# f = 1: with replica 3 silent every call takes the commit path
	ok($zz->pay(1, 30) && $zz->pay(2, 20), "$what: calls complete without replica 3");
	my $stable = $zz->q1(1, 'SELECT stable_seq FROM zyzzyva.status');
	cmp_ok($stable, '>', $seq + 8, "$what: the others' stable checkpoint ($stable) is past its log");
	ok($zz->signal_daemon(3, 'CONT'), "$what: replica 3 resumed");
	my $installed = $zz->wait_until(
		40,
		sub {
			$zz->pay(1, 2);
			return ($zz->status(3)->{transfers_installed} // 0) > $before;
		});
	ok($installed, "$what: replica 3 installed a checkpoint by state transfer");
	return $installed;
}

# --- 1. a plain state transfer ---
ok($zz->pay(0, 12), 'some history first');
ok($zz->settle(1, 8), 'all four agree');
cut_off_and_return('plain');
ok($zz->settle(1, 8), 'plain: replica 3 replays what follows the checkpoint and agrees');
my $st = $zz->q1(3,
	q{SELECT transfers_installed || ' ' || last_transfer_seq || ' ' || condition FROM zyzzyva.status});
like($st, qr/^[1-9]\d* [1-9]\d* normal$/,
	"plain: the status view shows the transfer and the normal condition again ($st)");
like($zz->daemon_log(3), qr/installed the state of checkpoint \d+/, 'plain: and the log says so');
$zz->check_ledgers('plain', $total);

# --- 2. a peer that serves wrong rows ---
is($zz->stop_daemon(0), 0, 'replica 0 restarted with ZZ_TEST_CORRUPT_SNAPSHOT');
$zz->start_daemon(0, ZZ_TEST_CORRUPT_SNAPSHOT => 1);
ok($zz->wait_until(30, sub { $zz->ready(0) }), '... and back');
ok($zz->settle(1, 8), 'all four agree');
cut_off_and_return('corrupt peer', 1);
cmp_ok($zz->status(3)->{transfers_rejected} // 0, '>', 0,
	'corrupt peer: replica 3 rejected the wrong rows');
like($zz->daemon_log(3), qr/ZZ001.*does not match|does not match.*ZZ001|ZZ001/s,
	'corrupt peer: the log names the digest mismatch (ZZ001)');
ok($zz->settle(1, 8), 'corrupt peer: all four agree');
$zz->check_ledgers('corrupt peer', $total);

# --- 3. the peer being read from dies ---
is($zz->stop_daemon(0), 0, 'replica 0 restarted with ZZ_TEST_EXIT_ON_STATE_REQUEST');
$zz->start_daemon(0, ZZ_TEST_EXIT_ON_STATE_REQUEST => 1);
ok($zz->wait_until(30, sub { $zz->ready(0) }), '... and back');
ok($zz->settle(1, 8), 'all four agree');
cut_off_and_return('peer lost', 1);
my $exit = $zz->daemon_exited(0);
is($exit, 9, 'peer lost: replica 0 died when asked for its state');
$zz->start_daemon(0);
ok($zz->settle(1, 8), 'peer lost: replica 0 restarted; all four agree');
$zz->check_ledgers('peer lost', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
