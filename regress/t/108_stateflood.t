# A replica flooding STATE-REQUESTs (issue 12, item 5, as far as built):
# replica 0 is faulty (its sidecar is stopped and a probe with its key
# speaks for it) and sends replica 2 hundreds of valid, signed
# STATE-REQUESTs.  Replica 2 starts one chunked transfer for it and drops
# the rest (or, on a 0.1 database, reads its checkpoint's state once and
# serves the rest from memory), so it keeps answering calls at about its
# normal speed.
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
use IPC::Run;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'stflood',
	settings => { checkpoint_interval => 4 },
	sql => [ ZZPG::ledger_sql() ]);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
ok($zz->settle(1, 8), 'all four agree at a stable checkpoint');
is($zz->stop_daemon(0), 0, 'replica 0 (now faulty) stopped');

my $t0 = time();
ok($zz->pay(1, 20), '20 calls without the flood');
my $base = time() - $t0;

my ($pout, $perr) = ('', '');
my $probe = IPC::Run::start(
	[
		"$ZZPG::build/zyzzyva-probe", '--as', $zz->{conf}[0], '--to', 2, '--hello',
		'--state-requests', 400, '--expect', 'open', '--wait', 12
	],
	'>', \$pout, '2>', \$perr, IPC::Run::timeout(60));
usleep(500_000);
$t0 = time();
ok($zz->pay(1, 20), '20 calls during the flood');
my $during = time() - $t0;
cmp_ok($during, '<', 3 * $base + 3,
	sprintf('... in %.2f s (%.2f s without the flood)', $during, $base));
eval { $probe->finish; 1 } or $probe->kill_kill;
my $st = $zz->status(2);
# A replica serves a checkpoint in chunks (a 0.2 database): one transfer
# for the requester, whose other STATE-REQUESTs are dropped; or in one
# snapshot (0.1), read once and then served from memory.
my $absorbed = ($st->{pg_snapshots_served} // 0) + ($st->{pg_transfer_requests_dropped} // 0);
cmp_ok($absorbed, '>=', 100,
	"replica 2 absorbed the flood: $absorbed STATE-REQUESTs served from memory or dropped")
  or diag("$pout$perr");
my $reads = ($st->{pg_snapshots_served} // 0) - ($st->{pg_snapshots_cached} // 0)
  + ($st->{pg_transfer_serves_started} // 0);
cmp_ok($reads, '<=', 2, "... reading the database at most twice ($reads)");
like($zz->daemon_log(2), qr/STATE-REQUEST from replica 0 dropped: its transfer/,
	'... and it logs the STATE-REQUESTs it drops');

$zz->start_daemon(0);
ok($zz->wait_until(30, sub { $zz->ready(0) }), 'replica 0 back');
ok($zz->settle(1, 4), 'all four agree again');
$zz->check_ledgers('after the flood', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
