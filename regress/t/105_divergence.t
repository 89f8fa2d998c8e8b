# Divergence: someone changes a replica's replicated table behind the
# extension's back (triggers off, as a superuser can).  After its next
# stable checkpoint the sidecar rechecks the rows against the incremental
# digest (zyzzyva.verify_digest; verify_interval = 0: after every one),
# finds they differ, marks itself diverged, stops
# answering, and repairs itself by state transfer from the others.
# Afterwards its rows are the agreed ones again, every completed call is
# present exactly once everywhere, and the four digests agree.
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
	name => 'tamper',
	settings => { checkpoint_interval => 4, checkpoint_resend => '300ms', verify_interval => 0 },
	sql => [ ZZPG::ledger_sql() ]);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
ok($zz->pay(0, 12), 'some history first');
ok($zz->converged([ 0 .. $n - 1 ], 1), 'all four agree at a stable checkpoint');
is($zz->q1(2, 'SELECT condition FROM zyzzyva.status'), 'normal', 'replica 2 is normal');

# the guard refuses a plain write ...
my ($rc, $out, $err) = $zz->node(2)->psql('postgres', 'UPDATE accounts SET balance = 0 WHERE id = 7');
isnt($rc, 0, 'a plain write to a replicated table is refused');
# ... so tamper the way a superuser can: with the triggers disabled
$zz->q1(2, q{BEGIN;
SET LOCAL zyzzyva.repair_mode = on;
ALTER TABLE accounts DISABLE TRIGGER ALL;
ALTER TABLE ledger DISABLE TRIGGER ALL;
UPDATE accounts SET balance = balance + 500 WHERE id = 7;
DELETE FROM ledger WHERE id = 3;
ALTER TABLE accounts ENABLE ALWAYS TRIGGER zyzzyva_guard;
ALTER TABLE accounts ENABLE ALWAYS TRIGGER zyzzyva_capture;
ALTER TABLE ledger ENABLE ALWAYS TRIGGER zyzzyva_guard;
ALTER TABLE ledger ENABLE ALWAYS TRIGGER zyzzyva_capture;
COMMIT;});
is($zz->q1(2, 'SELECT balance FROM accounts WHERE id = 7') - $zz->q1(0, 'SELECT balance FROM accounts WHERE id = 7'),
	500, "replica 2's table was changed behind the extension's back");
is($zz->q1(2, 'SELECT zyzzyva.verify_digest()'), 'f', '... and its rows no longer match its digest');

# load through the others: the next stable checkpoint finds it
my $failures = 0;
ok( $zz->wait_until(
		40,
		sub {
			$zz->pay(1, 4);
			$failures = $zz->status(2)->{pg_verify_failures} // 0;
			return $failures > 0;
		}),
	'replica 2 found the mismatch at a stable checkpoint');
like($zz->daemon_log(2), qr/DIVERGED: the rows of the replicated tables no longer match/,
	'... and says so in its log');
like($zz->daemon_log(2), qr/condition: diverged/, '... and its condition became diverged');
ok( $zz->wait_until(
		40,
		sub {
			$zz->pay(1, 2);
			return ($zz->status(2)->{transfers_installed} // 0) > 0
			  && $zz->q1(2, 'SELECT zyzzyva.verify_digest()') eq 't';
		}),
	'replica 2 repaired itself by state transfer');
like($zz->daemon_log(2), qr/repaired: the rows are those of checkpoint \d+ again/,
	'... and says so in its log');
cmp_ok($zz->status(2)->{repairs} // 0, '>=', 1, '... through the core\'s repair');

ok($zz->pay(3, 8), 'calls go on');
ok($zz->converged([ 0 .. $n - 1 ], 1), 'all four agree again');
is($zz->q1(2, 'SELECT condition FROM zyzzyva.status'), 'normal', 'replica 2 is normal again');
is($zz->q1(2, 'SELECT transfers_installed > 0 FROM zyzzyva.status'), 't',
	'the status view counts the transfer');
$zz->check_ledgers('after the repair', $total);
is( join(',', map { $zz->q1($_, 'SELECT balance FROM accounts WHERE id = 7') } 0 .. $n - 1),
	join(',', ($zz->q1(0, 'SELECT balance FROM accounts WHERE id = 7')) x 4),
	'the tampered row is the agreed one again');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
