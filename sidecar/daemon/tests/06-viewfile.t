#!/usr/bin/perl
# A replica whose view_file cannot be written must not promise what it
# cannot keep: it sends nothing (no VIEW-CHANGE, nothing else) while the
# view it committed to is not in the file, and speaks again once the file
# takes it (docs/durability.md).  Replica 3's view_file lies in a
# directory that does not exist; with the primary dead, the view change
# needs replica 3's VIEW-CHANGE (2f+1 = 3 of the 3 alive), so no request
# completes until the directory is made.
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
my $missing = "$dir/missing";
{
	my $conf = ZZ::slurp("$dir/replica-3.conf");
	$conf =~ s/^view_file\s*=.*$/view_file = $missing\/replica-3.view/m
		or die "no view_file line in replica-3.conf";
	open(my $fh, '>', "$dir/replica-3.conf") or die "replica-3.conf: $!";
	print $fh $conf;
	close($fh);
}
my @sock = map { "$dir/run/replica-$_.sock" } 0 .. $n - 1;
my @pid = map { start_daemon("$dir/replica-$_.conf", "$dir/replica-$_.log") } 0 .. $n - 1;
ok(wait_until(15, sub { !grep { (cli_status($_)->{peers_connected} // -1) != $n - 1 } @sock }),
	'all replicas connected');
my ($rc, $out) = cli($sock[1], 'PUT before 1');
like($out, qr/view=0 .*reply=OK/, 'a request completes in view 0 (the file is not needed yet)');

# The primary dies; a request on replica 1 starts the view change.
ZZ::kill_daemon($pid[0]);
my $kid = fork();
die "fork: $!" unless defined $kid;
if ($kid == 0) {
	open(STDOUT, '>', "$dir/after.out");
	exec(bin('zyzzyva-cli'), '--timeout', '60', '--verbose', '--socket', $sock[1], '--',
		'PUT after 1') or POSIX::_exit(127);
}
ok(wait_until(30, sub { ZZ::slurp("$dir/replica-3.log") =~ /view_file: .* is not kept; this replica sends nothing/ }),
	'replica 3 logs that it cannot keep the view and stays silent');

# Silent replica 3: the view change cannot finish (replicas 1 and 2 alone).
sleep(4);
is(waitpid($kid, POSIX::WNOHANG()), 0, 'no request completes while replica 3 cannot keep its view');
isnt(cli_status($sock[1])->{mode} // '', 'normal', 'replica 1 is still changing views');
ok(!-e "$missing/replica-3.view", 'replica 3 kept no view');

# The file can be written again: replica 3 speaks, the view change ends.
mkdir($missing) or die "mkdir: $!";
my $done = wait_until(45, sub { waitpid($kid, POSIX::WNOHANG()) == $kid });
ok($done && $? == 0, 'the request completes once replica 3 can keep its view');
like(ZZ::slurp("$dir/after.out"), qr/reply=OK/, '... with its reply');
like(ZZ::slurp("$missing/replica-3.view"), qr/^view [1-9]\d*\n\z/, 'replica 3 kept the view it moved to');
like(ZZ::slurp("$dir/replica-3.log"), qr/view_file: view \d+ kept; this replica speaks again/,
	'replica 3 logs that it speaks again');
($rc, $out) = cli($sock[3], 'GET after');
like($out, qr/reply=VALUE 1$/m, 'replica 3 answers in the new view');

kill('KILL', $kid) unless $done;
ZZ::stop_daemon($pid[$_]) for 1 .. $n - 1;
done_testing();
