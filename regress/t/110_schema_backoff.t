# A replica whose replicated schema was changed behind the extension's back
# (a superuser in zyzzyva.repair_mode adds a column) cannot take any
# certified snapshot: every install is refused (ZZ001), whoever sends it.
# It must say so (condition = diverged, with the reason, and a log line)
# and back off, instead of making the others read and send their whole
# state every checkpoint_resend for ever.  Once an operator puts the schema
# back, the next try installs and the replica is normal again.
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
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $resend_ms = 300;
my $zz = ZZPG->new(
	name => 'schemadiff',
	settings => { checkpoint_interval => 4, checkpoint_resend => "${resend_ms}ms", verify_interval => 0 },
	sql => [ ZZPG::ledger_sql() ]);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
ok($zz->pay(0, 12), 'some history first');
ok($zz->converged([ 0 .. $n - 1 ], 1), 'all four agree at a stable checkpoint');

# change replica 2's replicated schema the way only a superuser can
$zz->q1(2, q{BEGIN;
SET LOCAL zyzzyva.repair_mode = on;
ALTER TABLE accounts ADD COLUMN note text DEFAULT 'local';
COMMIT;});
is($zz->q1(2, 'SELECT zyzzyva.verify_digest()'), 'f', "replica 2's schema no longer matches its digest");

ok( $zz->wait_until(
		60,
		sub {
			$zz->pay(1, 2);
			return $zz->daemon_log(2) =~ /snapshots of checkpoint \d+ refused in a row/;
		}),
	'replica 2 says that it refuses snapshot after snapshot');
like($zz->daemon_log(2), qr/replicated schema or rows differ from the certified checkpoint; backing off/,
	'... naming the cause in its log');
ok( $zz->wait_until(
		20,
		sub {
			return $zz->q1(2, 'SELECT condition FROM zyzzyva.status') eq 'diverged'
			  && $zz->q1(2, 'SELECT condition_detail FROM zyzzyva.status') =~ /refused in a row/;
		}),
	'... and in zyzzyva.status: diverged, with the reason');

# back-off: without it, one refused install every checkpoint_resend
my $f0 = $zz->status(2)->{pg_install_failures} // 0;
my $t0 = time;
sleep 9;
my $tries = ($zz->status(2)->{pg_install_failures} // 0) - $f0;
my $without = int((time - $t0) * 1000 / $resend_ms);
cmp_ok($tries, '<', $without / 3,
	"it backs off: $tries refused installs in 9 s, where one per checkpoint_resend would be $without");
ok($zz->pay(3, 8), 'the others go on completing calls meanwhile');

# the operator puts the schema back: the next try installs
$zz->q1(2, q{BEGIN;
SET LOCAL zyzzyva.repair_mode = on;
ALTER TABLE accounts DROP COLUMN note;
COMMIT;});
ok( $zz->wait_until(
		120,
		sub {
			$zz->pay(1, 1);
			return $zz->q1(2, 'SELECT condition FROM zyzzyva.status') eq 'normal'
			  && $zz->q1(2, 'SELECT zyzzyva.verify_digest()') eq 't';
		}),
	'after the schema is put back, replica 2 installs a checkpoint and is normal again');
like($zz->daemon_log(2), qr/installed after \d+ refused snapshots/, '... and says so');
ok($zz->pay(2, 4), 'calls go on through replica 2');
ok($zz->converged([ 0 .. $n - 1 ], 1), 'all four agree again');
$zz->check_ledgers('after the repair', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
