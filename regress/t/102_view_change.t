# A speculative batch rolled back in a database after a view change.
#
# Fault injection (test_withhold_order_req on every sidecar): the next
# batch's ORDER-REQ reaches replica 1 only, from the primary and from
# replica 1 when others ask for it (FILL-HOLE).  A transfer submitted
# through replica 2 is executed by replicas 0 and 1 alone: two
# SPEC-RESPONSEs, too few to complete.  The primary's sidecar is killed.  In the view change
# among replicas 1, 2 and 3 the batch has one report (fewer than f + 1)
# and no commit certificate, so the new history leaves it out, and
# replica 1 rolls it back, in its database too (zyzzyva.rollback_to
# through its sidecar).  The client retransmits; the transfer is ordered
# again in view 1 and completes once.  The three databases end equal, with
# the transfer applied exactly once.  Replica 1's stored ORDER-REQ of the
# batch is the one of view 1 then, and a restart of its sidecar takes its
# whole history back.
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

my $sig = 'public.transfer(integer,integer,bigint)';
# The backups' CONFIRM-REQ timer decides when they give up on the primary:
# long enough that the primary is dead by then, so that it has no say in
# the view change.
my $zz = ZZPG->new(
	name => 'vc',
	settings => { checkpoint_interval => 8, confirm_timeout => '2s', log_level => 'debug' },
	sql => [ slurp_file("$ZZPG::tools/bank.sql") ],
	fault_injection => 1);

# some history first, with every replica in it
my ($rc, $out) = $zz->cli(3, '--call', $sig, '1 2 10', '2 3 10', '3 1 10');
is($rc, 0, 'transfers in view 0 complete') or diag($out);
ok($zz->converged([ 0 .. 3 ], 0), 'every replica applied them');
my $seq0 = $zz->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status');

my $next = $seq0 + 1;
ok(!grep({ !$zz->reconfigure($_, "test_withhold_order_req = 0 $next 1") } 0 .. 3),
	"batch $next of view 0 will reach replica 1 only");
my $call = $zz->cli_start(2, '--verbose', '--call', $sig, '40 41 25');
ok( $zz->wait_until(10, sub { $zz->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status') > $seq0 }),
	'replica 1 applied the transfer speculatively');
is($zz->q1(1, 'SELECT balance FROM accounts WHERE id = 40'), '975', '... its database shows it');
is($zz->q1(2, 'SELECT last_applied_seq FROM zyzzyva.status'), $seq0, 'replica 2 never saw it');
$zz->kill_daemon(0);

($rc, $out) = $zz->cli_finish($call);
is($rc, 0, 'the transfer completes after the primary\'s sidecar is killed') or diag($out);
like($out, qr/^path=\w+ view=1 seq=\d+ reply=975$/m, '... in view 1, with its result');
ok($zz->converged([ 1 .. 3 ], 0), 'replicas 1-3 apply the same batches');
cmp_ok($zz->status(1)->{pg_rollbacks} // 0, '>=', 1,
	'replica 1 rolled its database back (zyzzyva.rollback_to)');
cmp_ok($zz->status(1)->{rollbacks} // 0, '>=', 1, '... because its replica undid the batch');
is(scalar($zz->digests([ 1 .. 3 ])), 1, 'replicas 1-3 have equal state digests');
is( join(',', map { $zz->q1($_, 'SELECT balance FROM accounts WHERE id = 40') } 1 .. 3),
	'975,975,975',
	'the transfer is applied exactly once on each');
is( join(',', map { $zz->q1($_, 'SELECT last_applied_view FROM zyzzyva.status') } 1 .. 3),
	'1,1,1', '... by a batch of view 1');
is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } 1 .. 3),
	't,t,t', 'each digest matches its rows after the rollback');

($rc, $out) = $zz->cli(3, '--call', $sig, '41 40 5');
is($rc, 0, 'the new view serves') or diag($out);

# Replica 1 stored the ORDER-REQ of batch $next with it (keep_order); the
# view change replaced that batch, and its stored ORDER-REQ with it: a
# restart takes back the new one, and with it the batches above (the old
# one would end the history there: the next batch chains from the new).
ok($zz->converged([ 1 .. 3 ], 0), 'replicas 1-3 applied the next batch too');
is($zz->q1(1, "SELECT view FROM zyzzyva.batch_order WHERE seq = $next"), '1',
	"replica 1 keeps the ORDER-REQ of view 1 for batch $next, not the one it rolled back");
my $last = $zz->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status');
is($zz->stop_daemon(1), 0, 'sidecar 1 exits 0 on SIGTERM');
$zz->start_daemon(1);
ok($zz->wait_until(30, sub { ($zz->status(1)->{pg_state} // '') eq 'ready' }),
	'sidecar 1 starts again');
like($zz->daemon_log(1), qr/resumed at stable checkpoint \d+ with this replica's history up to batch $last /,
	"... with its whole history (to batch $last), batch $next of view 1 included");
($rc, $out) = $zz->cli(1, '--call', $sig, '40 41 1');
is($rc, 0, 'a call through the restarted replica completes') or diag($out);
ok($zz->converged([ 1 .. 3 ], 0), 'replicas 1-3 apply the same batches after the restart');
is(scalar($zz->digests([ 1 .. 3 ])), 1, '... with equal state digests');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 1 .. 3;
$zz->node($_)->stop for 0 .. 3;
done_testing();
