#!/usr/bin/perl
# Hostile input on the replica port and the client socket: garbage, TLS
# without a certificate or with a wrong key, a replica dialing the wrong
# way, HELLOs that lie, oversized, unknown and truncated frames, silent and
# flooding connections.  Each is rejected and logged, and the daemon keeps
# serving: afterwards the rest of the cluster starts and requests through
# the attacked replica complete.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use ZZ;

my $dir = test_dir();
cluster_init($dir, '--f', 1, '--set', 'handshake_timeout=500ms');
my $conf1 = "$dir/replica-1.conf";
my $log1 = "$dir/replica-1.log";
my $sock1 = "$dir/run/replica-1.sock";
my $port1 = replica_port($conf1, 1);
my $pid1 = start_daemon($conf1, $log1);
ok(wait_until(10, sub { -S $sock1 }), 'replica 1 is up');

# Count log lines matching RE.
sub log_count {
	my ($re) = @_;
	return scalar(grep { /$re/ } split(/\n/, ZZ::slurp($log1)));
}

# One probe run: expectation, what the log must then say, a name.
sub hostile {
	my ($name, $logre, @args) = @_;
	my $before = log_count($logre);
	my ($rc, $out) = probe(@args);
	is($rc, 0, "$name: connection handled as expected") or diag($out);
	ok(wait_until(3, sub { log_count($logre) > $before }), "$name: logged") or
		diag(ZZ::slurp($log1));
	ok(ZZ::alive($pid1), "$name: daemon still running");
}

my $wrong = "$dir/wrong.key";
system(bin('zyzzyva-keygen'), $dir, 9) == 0 or die;    # a key no replica has
rename("$dir/replica-9.key", $wrong);

# --- replica port ---
hostile('HTTP request on the replica port', qr/rejected: TLS handshake failed/,
	'--connect', $port1, '--raw', unpack('H*', "GET / HTTP/1.1\r\n\r\n"), '--expect', 'closed');
# (random bytes may happen to start a TLS record longer than what follows:
# then the handshake deadline is what closes the connection)
hostile('random bytes', qr/rejected: (TLS handshake failed|no handshake and HELLO in time)/,
	'--connect', $port1, '--raw', join('', map { sprintf('%02x', int(rand(256))) } 1 .. 4096),
	'--expect', 'closed');
hostile('TLS without a certificate', qr/rejected: TLS handshake failed/,
	'--connect', $port1, '--tls-nocert', '--expect', 'closed');
hostile('TLS with a key no replica has', qr/certificate refused: its key is not the key of any configured replica/,
	'--connect', $port1, '--tls', $wrong, '--expect', 'closed');
hostile('replica 3 dialing replica 1 (only lower ids dial)', qr/certificate refused: its key is a replica's that may not/,
	'--as', "$dir/replica-3.conf", '--to', 1, '--expect', 'closed');
hostile('replica 0 sending a message before HELLO', qr/first frame is not a HELLO/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--frame', 2, '00', '--expect', 'closed');
hostile('replica 0 claiming to be replica 2', qr/HELLO claims to be from 2 to 1; its key is replica 0's/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello-claim', 2, '--expect', 'closed');
hostile('HELLO for another cluster', qr/HELLO names another cluster/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello-bad-cluster', '--expect', 'closed');
hostile('oversized frame header (4 GiB)', qr/declares 4294967295 bytes, over the limit/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello', '--header', 2, 4294967295, '--expect', 'closed');
hostile('unknown frame type', qr/unexpected frame type 99/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello', '--frame', 99, 'aabb', '--expect', 'closed');
hostile('client frame without a client id', qr/client frame without a client id/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello', '--frame', 3, 'aa', '--expect', 'closed');
hostile('silent connection (no handshake)', qr/no handshake and HELLO in time/,
	'--connect', $port1, '--expect', 'closed', '--wait', 3);

# Replica 0 relaying a REQUEST "from" a client of replica 2 (id 2 * 65536):
# a replica speaking for a client it does not host.
hostile('REQUEST for another replica\'s client', qr/REQUEST for client 131072, which replica 0 does not host; dropped/,
	'--as', "$dir/replica-0.conf", '--to', 1, '--hello', '--frame', 2, '01' . '00000200' . ('00' x 16),
	'--expect', 'open', '--wait', 0.5);

# Garbage inside a well-formed frame reaches the core, which rejects it;
# the authenticated connection stays up.
{
	my $before = cli_status($sock1)->{rejected} // 0;
	my ($rc, $out) = probe('--as', "$dir/replica-0.conf", '--to', 1, '--hello',
		'--frame', 2, 'deadbeef', '--frame', 2, '02' . ('00' x 40), '--expect', 'open', '--wait', 1);
	is($rc, 0, 'malformed core messages from an authenticated peer: connection kept') or diag($out);
	ok(wait_until(3, sub { (cli_status($sock1)->{rejected} // 0) >= $before + 2 }),
		'... and the core counted both as rejected');
}

# A truncated frame, then the peer goes away.
{
	my ($rc, $out) = probe('--as', "$dir/replica-0.conf", '--to', 1, '--hello',
		'--header', 2, 1000, '--raw', 'aabbcc', '--expect', 'open', '--wait', 0.3);
	is($rc, 0, 'truncated frame: daemon waits for the rest') or diag($out);
	ok(ZZ::alive($pid1), 'truncated frame then disconnect: daemon still running');
}

# A flood of connections that never speak: the pending bound holds, per
# source address, by closing the oldest pending handshake (so that a
# replica that reconnects meanwhile gets its turn).
{
	my @conns;
	for (1 .. 100) {
		my $s = IO::Socket::INET->new(PeerAddr => $port1, Proto => 'tcp', Timeout => 2) or last;
		push @conns, $s;
	}
	ok(scalar(@conns) >= 64, 'opened ' . scalar(@conns) . ' idle connections');
	my $st = cli_status($sock1);
	is($st->{id}, 1, 'status still answers during the flood');
	ok(wait_until(5, sub { log_count(qr/closed to make room for a newer handshake|more rejected connections/) > 0 }),
		'connections beyond the per-source bound push out the oldest pending handshake');
	ok(wait_until(5, sub { ($st = cli_status($sock1))->{peers_evicted} >= 90 }),
		'... all but the newest few: ' . ($st->{peers_evicted} // '?') . ' evicted');
	cmp_ok($st->{peers_pending}, '<=', 8 + 4, '... and no more than 8 from one source are pending');
	close($_) for @conns;
}

# Only the configured replicas' addresses get past accept.
{
	select(undef, undef, undef, 1.2);	# (past the flood's window of logged rejections)
	my $before = cli_status($sock1)->{peers_unknown_sources} // 0;
	my $s = IO::Socket::INET->new(PeerAddr => $port1, LocalAddr => '127.0.0.2', Proto => 'tcp', Timeout => 2);
	ok($s, 'a connection from 127.0.0.2, which no replica has');
	ok(wait_until(5, sub { (cli_status($sock1)->{peers_unknown_sources} // 0) > $before }),
		'... is closed at accept');
	ok(wait_until(5, sub { log_count(qr/refused: not the address of a configured replica/) > 0 }),
		'... and logged');
	close($s) if $s;
}

# --- client socket ---
my $lbefore;
hostile('garbage on the client socket', qr/local client .*dropped: frame type 255 declares/,
	'--unix', $sock1, '--raw', 'ffffffffffffffff', '--expect', 'closed');
hostile('oversized request on the client socket', qr/local client .*dropped: frame type 16 declares 200000000/,
	'--unix', $sock1, '--header', '0x10', 200000000, '--expect', 'closed');
hostile('unknown frame type on the client socket', qr/local client .*dropped: unknown frame type 119/,
	'--unix', $sock1, '--frame', '0x77', '00', '--expect', 'closed');
{
	my ($rc, $out) = probe('--unix', $sock1, '--header', '0x10', 100, '--raw', '0102', '--expect', 'open', '--wait', 0.3);
	is($rc, 0, 'truncated request: daemon waits for the rest') or diag($out);
}

# Another user reaching the socket (as if its permissions were loosened)
# is refused by SO_PEERCRED.
SKIP: {
	skip('needs root and setpriv', 2) unless $> == 0 && -x '/usr/bin/setpriv';
	chmod(0711, $dir, "$dir/run");
	chmod(0666, $sock1);
	my $before = log_count(qr/refused: not our uid, root or group/);
	my $out = `/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ${\ bin('zyzzyva-probe')} --unix $sock1 --frame 0x13 '' --expect closed 2>&1`;
	is($? >> 8, 0, 'another uid is disconnected') or diag($out);
	ok(wait_until(3, sub { log_count(qr/refused: not our uid, root or group/) > $before }), '... and logged');
	chmod(0600, $sock1);
	chmod(0700, $dir, "$dir/run");
}

# --- still serving: bring up the others and complete requests via replica 1 ---
my @pids = map { start_daemon("$dir/replica-$_.conf", "$dir/replica-$_.log") } (0, 2, 3);
ok(wait_until(15, sub { (cli_status($sock1)->{peers_connected} // 0) == 3 }),
	'replica 1 connects to its real peers after the attacks');
my ($rc, $out) = cli($sock1, 'PUT after attack', 'GET after');
is($rc, 0, 'requests through the attacked replica complete') or diag($out);
like($out, qr/reply=VALUE attack$/m, '... with the right result');

is(ZZ::stop_daemon($pid1), 0, 'replica 1 exits cleanly on SIGTERM');
ZZ::stop_daemon($_) for @pids;
done_testing();
