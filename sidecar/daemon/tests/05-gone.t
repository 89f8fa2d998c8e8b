#!/usr/bin/perl
# A caller that gives up (issue 12): with two of four replicas down no
# request can complete; a program that sends one and leaves (its timeout)
# must not leave its request retransmitted for ever: the sidecar drops it
# when the program's connection closes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
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
my ($rc, $out) = cli($sock[0], 'PUT a 1');
is($rc, 0, 'a request completes with all four up') or diag($out);

ZZ::kill_daemon($pid[$_]) for 2, 3;
my @cmd = (bin('zyzzyva-cli'), '--timeout', '1', '--socket', $sock[0], '--', 'PUT b 2');
$out = `@cmd 2>&1`;
isnt($? >> 8, 0, 'with two replicas down a request cannot complete: the program gives up')
  or diag($out);
ok(wait_until(5, sub { (cli_status($sock[0])->{requests_outstanding} // -1) == 0 }),
	'its request is no longer outstanding once the program has gone');
my $r1 = cli_status($sock[0])->{requests_retransmissions} // -1;
Time::HiRes::sleep(2.5);
my $r2 = cli_status($sock[0])->{requests_retransmissions} // -1;
is($r2, $r1, "... nor retransmitted ($r1 retransmissions, none in 2.5 s since)");

is(ZZ::stop_daemon($pid[$_]), 0, "replica $_ exits 0 on SIGTERM") for 0, 1;
done_testing();
