# The operator's tool restarts one replica at a time while clients run:
# sidecar/tools/zyzzyva-cluster restart DIR N stops replica N's sidecar and
# server and starts them again, waiting until the replica is back in
# normal mode (docs/operations.md).
#
# A cluster of four PostgreSQL servers and four sidecars made by the tool
# itself (zyzzyva-cluster start --postgres); the bank and the ledger of the
# recovery tests set up through replicated_ddl by two replicas.  Each
# replica in turn, the primary first, is restarted with the tool while two
# bounded client loops (zyzzyva-cli, one call after another) run on two
# other replicas:
#   - the tool exits 0 and says the replica is back in normal mode; stop
#     twice and start twice are idempotent;
#   - every call of every client completes;
#   - at the end every completed call is in every replica's ledger exactly
#     once, the balances keep their sum, and the four replicas applied the
#     same batches with equal state digests that match their rows.
# Then zyzzyva-cluster upgrade (ALTER EXTENSION UPDATE one replica at a
# time, its sidecar stopped meanwhile): calls through every replica
# complete and the replicas agree again.
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
use PostgreSQL::Test::Utils;
use Test::More;
use ZZTool;

# --- the cluster, made by the tool ---
my $c = ZZTool->new(args => [ '--set', 'checkpoint_interval=8' ]);
my $dir = $c->dir;
my $n = $c->n;
my ($rc, $out);
my $total = $c->setup_ledger;

# --- restart each replica in turn under load ---
for my $victim (0 .. $n - 1)
{
	my @load = grep { $_ != $victim } 0 .. $n - 1;
	my @runs = map { $c->pay_start($_, 20) } @load[ 0, 1 ];
	usleep(300_000);
	my ($r, $o) = $c->tool('restart', $dir, $victim, '--timeout', '60');
	is($r, 0, "restart $victim: the tool exits 0");
	like($o, qr/^replica $victim: sidecar and server stopped$/m, "restart $victim: it stopped the sidecar and the server");
	like($o, qr/^replica $victim: server and sidecar started; normal mode$/m,
		"restart $victim: back in normal mode");
	my $all = 1;
	$all &&= $c->pay_finish($_) for @runs;
	ok($all, "restart $victim: every call of the clients on replicas @load[0, 1] completed");
}

# --- idempotence ---
($rc, $out) = $c->tool('stop', $dir, 2);
like($out, qr/^replica 2: sidecar and server stopped$/m, 'stop 2 stops replica 2');
($rc, $out) = $c->tool('stop', $dir, 2);
is($rc, 0, 'stop 2 again exits 0');
like($out, qr/^replica 2: already stopped$/m, 'stop 2 again: already stopped');
ok($c->pay_finish($c->pay_start(0, 10)), 'calls complete with replica 2 stopped');
($rc, $out) = $c->tool('start', $dir, 2);
like($out, qr/^replica 2: server and sidecar started; normal mode$/m, 'start 2 starts it again');
($rc, $out) = $c->tool('start', $dir, 2);
is($rc, 0, 'start 2 again exits 0');
like($out, qr/^replica 2: already running; normal mode$/m, 'start 2 again: already running');
($rc, $out) = $c->tool('restart', $dir, 7);
isnt($rc, 0, 'restart of a replica that does not exist fails');

# --- everything agrees ---
$c->check_all('after the restarts', $total);

# --- upgrade: one replica at a time ---
# (a client of the replica whose sidecar is stopped sees its calls refused
# meanwhile, 08006: it retries or uses another replica)
($rc, $out) = $c->tool('upgrade', $dir, '--timeout', '60');
is($rc, 0, 'zyzzyva-cluster upgrade exits 0');
is(scalar(() = $out =~ /^replica \d: extension version 0\.2; back in normal mode$/mg), $n,
	'upgrade: each replica updated and back in normal mode');
my $all = 1;
$all &&= $c->pay_finish($c->pay_start($_, 5)) for 0 .. $n - 1;
ok($all, 'upgrade: calls through every replica complete');
$c->check_all('after the upgrade', $total);

done_testing();
