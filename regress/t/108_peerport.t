# The peer port (issue 12, item 4): 200 slow, unauthenticated connections
# held open to replica 1's peer port (from 127.0.0.1, a configured
# replica's address, so they get past accept) while replica 0's sidecar
# restarts.  The oldest pending handshakes make room for newer ones, so
# replica 0 reconnects to replica 1 within seconds, and calls keep
# completing meanwhile.
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
use IO::Socket::INET;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'peerport',
	settings => { checkpoint_interval => 8, reconnect_max => '500ms' },
	sql => [ ZZPG::ledger_sql() ]);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
ok($zz->pay(2, 8), 'calls complete before');
my ($port1) = $zz->{conftext}[0] =~ /^replica\.1 = (127\.0\.0\.1:\d+)/m;
ok($port1, "replica 1's peer port is $port1");

# 200 connections that never speak, kept open (re-opened as they are closed)
my @conns;
sub flood
{
	@conns = grep { defined $_->connected } @conns;
	while (@conns < 200)
	{
		my $s = IO::Socket::INET->new(PeerAddr => $port1, Proto => 'tcp', Timeout => 2) or last;
		push @conns, $s;
	}
	return scalar(@conns);
}
is(flood(), 200, '200 idle connections to replica 1');

my $load = $zz->pay_start(2, $zz->take_ids(150), 150);
is($zz->stop_daemon(0), 0, 'replica 0 stopped');
flood();
my $t0 = time();
$zz->start_daemon(0);
my $back = $zz->wait_until(
	30,
	sub {
		flood();
		my $st = $zz->status(1);
		return ($st->{'peer.0'} // '') =~ /^connected/;
	});
my $secs = time() - $t0;
ok($back, sprintf('replica 0 reconnected to replica 1 under the flood in %.1f s', $secs));
cmp_ok($secs, '<', 15, '... in well under the attack\'s length');
cmp_ok($zz->status(1)->{peers_evicted} // 0, '>', 0, 'replica 1 evicted pending handshakes to make room');
cmp_ok($zz->status(1)->{peers_pending} // 99, '<=', 8 + 4, '... and keeps few pending from one source');
my ($lrc, $ids, $lout) = $zz->pay_finish($load);
$zz->add_completed(@$ids);
is($lrc, 0, 'calls through replica 2 kept completing') or diag($lout);
close($_) for @conns;
ok($zz->wait_until(20, sub { $zz->ready(0) }), 'replica 0 connected to all');
ok($zz->settle(2, 4), 'all four agree at a stable checkpoint');
$zz->check_ledgers('after the flood', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
