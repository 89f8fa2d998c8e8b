#!/usr/bin/perl
# The primary killed (by its pid) under load: the other replicas move to
# the next view and every request completes, exactly once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use ZZ;

my $dir = test_dir();
cluster_init($dir, '--f', 1);
my $n = 4;
my @sock = map { "$dir/run/replica-$_.sock" } 0 .. $n - 1;
my @pid = map { start_daemon("$dir/replica-$_.conf", "$dir/replica-$_.log") } 0 .. $n - 1;
ok(wait_until(15, sub { !grep { (cli_status($_)->{peers_connected} // -1) != $n - 1 } @sock }),
	'all replicas connected');
my ($rc, $out) = cli($sock[1], 'PUT before 1');
like($out, qr/view=0 .*reply=OK/, 'a request completes in view 0');

# Load: 6 clients on the backups' sockets, 300 increments each, sequential
# per client; the primary dies while they run.
my @kids;
for my $k (0 .. 5) {
	my $kid = fork();
	die "fork: $!" unless defined $kid;
	if ($kid == 0) {
		my @cmd = (bin('zyzzyva-cli'), '--timeout', '30', '--socket', $sock[1 + $k % 3], '--',
			map { 'ADD load 1' } 1 .. 300);
		open(STDOUT, '>', '/dev/null');
		exec(@cmd) or POSIX::_exit(127);
	}
	push @kids, $kid;
}
# Kill the primary once the load is under way (bounded wait).
wait_until(10, sub { (cli_status($sock[1])->{requests_executed} // 0) >= 100 });
ZZ::kill_daemon($pid[0]);
my $bad = 0;
for my $kid (@kids) {
	waitpid($kid, 0);
	$bad++ if $? != 0;
}
is($bad, 0, 'every client completed all its requests across the primary\'s death');

my $st = cli_status($sock[1]);
cmp_ok($st->{view} // 0, '>=', 1, "replica 1 moved to view $st->{view}");
isnt($st->{primary} // 0, 0, "... whose primary is replica $st->{primary}");
($rc, $out) = cli($sock[2], 'GET load');
like($out, qr/reply=VALUE 1800$/m, 'the 1800 increments were each executed exactly once');
($rc, $out) = cli($sock[3], 'GET before');
like($out, qr/reply=VALUE 1$/m, 'what completed in view 0 survived the view change');

# each replica kept the view it committed to (view_file, written before
# its VIEW-CHANGE left), so a restart never brings it back below it
like(ZZ::slurp("$dir/replica-1.view"), qr/^view [1-9]\d*\n\z/,
	'replica 1 kept the view it moved to in its view_file');

ZZ::stop_daemon($pid[$_]) for 1 .. $n - 1;
done_testing();
