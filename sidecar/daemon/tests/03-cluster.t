#!/usr/bin/perl
# A 4-replica cluster on loopback: requests from the local socket of every
# replica complete (fast path); concurrent clients; a backup killed by its
# pid and requests still complete (commit path), and again after it returns;
# SIGHUP reloads; SIGTERM stops cleanly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes ();
use ZZ;

my $dir = test_dir();
cluster_init($dir, '--f', 1);
my $n = 4;
my @pid;
my @sock = map { "$dir/run/replica-$_.sock" } 0 .. $n - 1;
$pid[$_] = start_daemon("$dir/replica-$_.conf", "$dir/replica-$_.log") for 0 .. $n - 1;

ok(wait_until(15, sub { !grep { (cli_status($_)->{peers_connected} // -1) != $n - 1 } @sock }),
	'all replicas connected to all peers');

# --- every replica's socket ---
my $fast = 0;
for my $i (0 .. $n - 1) {
	my ($rc, $out) = cli($sock[$i], "PUT key$i value$i", "GET key$i");
	is($rc, 0, "requests via replica $i complete") or diag($out);
	like($out, qr/^path=\w+ view=0 seq=\d+ reply=OK\npath=\w+ view=0 seq=\d+ reply=VALUE value$i\n\z/,
		"... with the right results");
	$fast += () = $out =~ /path=fast/g;
}
# (a loaded machine may push a few past the commit timer, not all)
cmp_ok($fast, '>', 0, "with every replica up, requests complete on the fast path ($fast of 8)");

# --- concurrent clients on every replica ---
{
	my @kids;
	for my $k (0 .. 7) {
		my $kid = fork();
		die "fork: $!" unless defined $kid;
		if ($kid == 0) {
			my ($rc) = cli($sock[$k % $n], map { 'ADD counter 1' } 1 .. 25);
			POSIX::_exit($rc);
		}
		push @kids, $kid;
	}
	my $bad = 0;
	for my $kid (@kids) {
		waitpid($kid, 0);
		$bad++ if $? != 0;
	}
	is($bad, 0, '8 concurrent clients (2 per replica), 25 requests each, all complete');
	my ($rc, $out) = cli($sock[2], 'GET counter');
	like($out, qr/reply=VALUE 200$/m, 'the counter saw each of the 200 increments once');

	# the local clients' latency percentiles: present and ordered
	my $st = cli_status($sock[0]);
	my ($p50, $p90, $p99) = map { $st->{"requests_latency_${_}_us"} // -1 } qw(p50 p90 p99);
	ok($p50 > 0 && $p50 <= $p90 && $p90 <= $p99,
		"latency percentiles reported in order (p50 $p50, p90 $p90, p99 $p99 us)");
}

# All replicas executed the same history.
ok(wait_until(5, sub {
	my @st = map { cli_status($_) } @sock;
	my %h = map { ($_->{history} // '') . '@' . ($_->{last_executed} // '') => 1 } @st;
	return keys(%h) == 1;
}), 'all replicas report the same last_executed and history');

# --- a backup killed by its pid ---
ZZ::kill_daemon($pid[3]);
for my $i (0 .. 2) {
	my ($rc, $out) = cli($sock[$i], "PUT down$i yes", "GET down$i");
	is($rc, 0, "replica 3 down: requests via replica $i complete") or diag($out);
	like($out, qr/^path=commit .*reply=OK\npath=commit .*reply=VALUE yes\n\z/,
		'... through the commit path');
}
ok(wait_until(5, sub { (cli_status($sock[0])->{peers_connected} // 0) == 2 }),
	'replica 0 sees replica 3 gone');

# With a backup down every request takes the commit path, and the client's
# adaptive commit timer commits as soon as 2f+1 responses match: no request
# may wait for the 50 ms retransmission (which it did when the commit timer
# fired before the responses were in).  60 sequential requests in 1.5 s
# leaves 25 ms each for a loaded machine; waiting for retransmission takes
# over 3 s.
{
	my $t0 = Time::HiRes::time();
	my ($rc, $out) = cli($sock[1], map { 'ADD slow 1' } 1 .. 60);
	my $took = Time::HiRes::time() - $t0;
	is($rc, 0, 'replica 3 down: 60 sequential requests complete') or diag($out);
	my $commits = () = $out =~ /path=commit/g;
	is($commits, 60, '... all through the commit path');
	cmp_ok($took, '<', 1.5, sprintf('... without waiting for retransmission (%.3f s)', $took));
}

# --- it comes back ---
$pid[3] = start_daemon("$dir/replica-3.conf", "$dir/replica-3.log");
ok(wait_until(15, sub { !grep { (cli_status($_)->{peers_connected} // -1) != $n - 1 } @sock }),
	'replica 3 restarted and the mesh is whole again');
for my $i (0 .. 2) {
	my ($rc, $out) = cli($sock[$i], "ADD back 1");
	is($rc, 0, "replica 3 back: requests via replica $i complete") or diag($out);
}
{
	# its clients' timestamps start at the wall clock, past those it used
	# before the restart (zz_client_set_next_timestamp)
	my ($rc, $out) = cli($sock[3], 'GET back');
	is($rc, 0, 'requests via the restarted replica complete') or diag($out);
	like($out, qr/reply=VALUE 3$/m, '... and see the increments made while it was down');
}

# --- SIGHUP ---
{
	my $conf = "$dir/replica-0.conf";
	my $text = ZZ::slurp($conf);
	open(my $fh, '>', $conf) or die;
	print $fh $text, "log_level = debug\nbatch_size = 7\n";
	close($fh);
	kill('HUP', $pid[0]);
	ok(wait_until(5, sub { ZZ::slurp("$dir/replica-0.log") =~ /reload done: 1 setting changed/ }),
		'SIGHUP applies log_level');
	like(ZZ::slurp("$dir/replica-0.log"), qr/'batch_size' changed; the new value takes effect only after a restart/,
		'... and says that batch_size needs a restart');
	open($fh, '>', $conf) or die;
	print $fh $text, "bogus_key = 1\n";
	close($fh);
	kill('HUP', $pid[0]);
	ok(wait_until(5, sub { ZZ::slurp("$dir/replica-0.log") =~ /reload failed; keeping the running configuration/ }),
		'a broken file on SIGHUP is refused and the daemon keeps running');
	my ($rc, $out) = cli($sock[1], 'GET key1');
	like($out, qr/VALUE value1/, 'the cluster still serves');
}

# --- SIGTERM ---
for my $i (0 .. $n - 1) {
	is(ZZ::stop_daemon($pid[$i]), 0, "replica $i exits 0 on SIGTERM");
	ok(!-e $sock[$i], "... and removes its socket");
}
done_testing();
