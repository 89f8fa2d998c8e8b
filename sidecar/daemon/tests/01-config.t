#!/usr/bin/perl
# Configuration checking (zyzzyvad --check-config) and key files
# (zyzzyva-keygen): errors name the file and line; private keys must be 0600.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ZZ;

my $dir = test_dir();

# Run zyzzyvad --check-config on a file; returns (exit code, stderr+stdout).
sub check {
	my ($file) = @_;
	my $out = `${\ bin('zyzzyvad')} --check-config $file 2>&1`;
	return ($? >> 8, $out);
}

# Write lines to a file; returns its path.
sub write_conf {
	my ($name, @lines) = @_;
	my $path = "$dir/$name";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh map { "$_\n" } @lines;
	close($fh);
	return $path;
}

# --- keygen ---
mkdir("$dir/k") or die;
is(system(bin('zyzzyva-keygen'), "$dir/k", 5), 0, 'keygen writes a key pair');
is((stat("$dir/k/replica-5.key"))[2] & 07777, 0600, 'private key is 0600');
is((stat("$dir/k/replica-5.pub"))[2] & 07777, 0644, 'public key is 0644');
like(ZZ::slurp("$dir/k/replica-5.key"), qr/BEGIN PRIVATE KEY.*BEGIN PRIVATE KEY/s,
	'private key file is PEM with two keys (Ed25519, X25519)');
like(ZZ::slurp("$dir/k/replica-5.pub"), qr/BEGIN PUBLIC KEY.*BEGIN PUBLIC KEY/s,
	'public key file is PEM with two keys');
{
	umask(0);
	my $out = `${\ bin('zyzzyva-keygen')} $dir/k 6 2>&1`;
	umask(022);
	is((stat("$dir/k/replica-6.key"))[2] & 07777, 0600, 'private key is 0600 whatever the umask');
}
my $out = `${\ bin('zyzzyva-keygen')} $dir/k 5 2>&1`;
isnt($? >> 8, 0, 'keygen refuses to overwrite a key');
like($out, qr/exists.*--force/, '... and says how to replace it');
is(system(bin('zyzzyva-keygen'), '--secret', "$dir/k/mac"), 0, 'keygen writes a MAC secret');
is(-s "$dir/k/mac", 32, 'MAC secret has 32 bytes');
is((stat("$dir/k/mac"))[2] & 07777, 0600, 'MAC secret is 0600');
$out = `${\ bin('zyzzyva-keygen')} $dir/k 99 2>&1`;
isnt($? >> 8, 0, 'keygen refuses an id out of range');

# --- a generated cluster's configuration is valid ---
my $c = "$dir/c";
cluster_init($c, '--f', 1);
my ($rc, $msg) = check("$c/replica-1.conf");
is($rc, 0, 'generated configuration passes --check-config') or diag($msg);
like($msg, qr/OK \(replica 1 of n = 4, f = 1/, '... and says what it is');

# The generated file's lines, to build broken variants from.
my @good = grep { !/^#/ } split(/\n/, ZZ::slurp("$c/replica-1.conf"));
s{(keys/|run/)}{$c/$1}g for @good;    # absolute paths: the variants live elsewhere

# --- one error per kind, each pointing at its line ---
my $f = write_conf('typo.conf', @good, 'bach_size = 8');
my $line = scalar(@good) + 1;
($rc, $msg) = check($f);
is($rc, 1, 'unknown key fails');
like($msg, qr/^\Q$f\E:$line: unknown key 'bach_size' \(did you mean 'batch_size'\?\)$/m,
	'unknown key: FILE:LINE and a suggestion');

$f = write_conf('range.conf', @good, '', '# comment', 'batch_size = 5000');
$line = scalar(@good) + 3;
($rc, $msg) = check($f);
like($msg, qr/^\Q$f\E:$line: batch_size = 5000 is out of range \(1 \.\. 1024\)$/m,
	'out of range value: line counted past blank lines and comments');

# the execution window: at least one batch at a time
$f = write_conf('window0.conf', @good, 'exec_window = 0');
($rc, $msg) = check($f);
like($msg, qr/: exec_window = 0 is out of range \(1 \.\. 1024\)$/m, 'exec_window 0 refused');
$f = write_conf('window4.conf', @good, 'exec_window = 4');
($rc, $msg) = check($f);
is($rc, 0, 'exec_window 4 accepted') or diag($msg);

$f = write_conf('dur.conf', @good, 'commit_timeout = 5 parsecs');
($rc, $msg) = check($f);
like($msg, qr/:\d+: commit_timeout: '5 parsecs' is not a duration/, 'bad duration');

# the time bound (issue 11 item 7): a duration, never 0 (no bound)
$f = write_conf('ahead.conf', @good, 'max_time_ahead = 2s');
($rc, $msg) = check($f);
is($rc, 0, 'max_time_ahead = 2s is accepted') or diag($msg);
for my $bad ('0', '5ms', '700000s')
{
	$f = write_conf('ahead.conf', @good, "max_time_ahead = $bad");
	($rc, $msg) = check($f);
	like($msg, qr/:\d+: max_time_ahead = \Q$bad\E is out of range \(10000 \.\. 604800000000 microseconds\)/,
		"max_time_ahead = $bad is refused");
}
$f = write_conf('ahead.conf', @good, 'max_time_ahead = soon');
($rc, $msg) = check($f);
like($msg, qr/:\d+: max_time_ahead: 'soon' is not a duration/, 'max_time_ahead must be a duration');
# the product daemon has no fault injection
$f = write_conf('skew.conf', @good, 'test_nd_time_skew = 3e12');
($rc, $msg) = check($f);
like($msg, qr/:\d+: unknown key 'test_nd_time_skew'/, 'the product daemon knows no test_nd_time_skew');
SKIP:
{
	my $fi = ZZ::bin('zyzzyvad') =~ s{/zyzzyvad$}{/fi/zyzzyvad}r;
	skip('no fault-injection daemon', 2) unless -x $fi;
	$out = `$fi --check-config $f 2>&1`;
	is($? >> 8, 0, 'the fault-injection daemon takes test_nd_time_skew = 3e12') or diag($out);
	$f = write_conf('skew.conf', @good, 'test_nd_time_skew = ages');
	$out = `$fi --check-config $f 2>&1`;
	like($out, qr/:\d+: test_nd_time_skew: 'ages' is not a number of milliseconds/,
		'... and refuses one that is not a number');
}

$f = write_conf('dup.conf', @good, 'batch_size = 8', 'batch_size = 16');
$line = scalar(@good) + 2;
($rc, $msg) = check($f);
like($msg, qr/:$line: duplicate key 'batch_size' \(first set on line ${\ ($line - 1)}\)/,
	'duplicate key names both lines');

$f = write_conf('noeq.conf', 'just words', @good);
($rc, $msg) = check($f);
like($msg, qr/^\Q$f\E:1: expected 'key = value'/m, 'line without = ');

my @no3 = grep { !/^replica\.3 / } @good;
$f = write_conf('missing.conf', @no3);
($rc, $msg) = check($f);
like($msg, qr/^\Q$f\E: missing 'replica\.3' \(f = 1 needs replica\.0 \.\. replica\.3\)$/m,
	'missing replica');

my @noid = grep { !/^id / } @good;
$f = write_conf('noid.conf', @noid);
($rc, $msg) = check($f);
like($msg, qr/missing required key 'id'/, 'missing required key');

$f = write_conf('beyond.conf', @good, 'replica.4 = 127.0.0.1:9 /nonexistent');
($rc, $msg) = check($f);
like($msg, qr/:\d+: replica\.4 is beyond replica\.3/, 'replica beyond n');

$f = write_conf('many.conf', 'bogus', @good, 'bach_size = 8', 'ping_interval = 1 fortnight');
($rc, $msg) = check($f);
like($msg, qr/3 errors/, 'every error of a file is reported in one run');

$f = write_conf('addr.conf', map { s/^replica\.2 = \S+/replica.2 = nowhere/r } @good);
($rc, $msg) = check($f);
like($msg, qr/:\d+: replica\.2: 'nowhere' is not host:port/, 'bad address');

# --- the PostgreSQL service ---
{
	my @pg = map { s/^service = .*/service = postgres/r } @good;
	my ($svcline) = grep { $pg[$_ - 1] =~ /^service = / } 1 .. @pg;
	$f = write_conf('pgnoconn.conf', @pg);
	($rc, $msg) = check($f);
	like($msg, qr/^\Q$f\E:$svcline: service = postgres needs pg_conninfo/m,
		'service = postgres without pg_conninfo: error at the service line');
	$f = write_conf('pg.conf', @pg, 'pg_conninfo = host=/tmp port=5432 dbname=app');
	($rc, $msg) = check($f);
	is($rc, 0, 'service = postgres with a conninfo (spaces and = in the value) passes') or diag($msg);
	like($msg, qr/service postgres/, '... and says so');
	$f = write_conf('kvconn.conf', @good, 'pg_conninfo = dbname=app');
	($rc, $msg) = check($f);
	like($msg, qr/:${\ (scalar(@good) + 1)}: pg_conninfo is only for service = postgres/,
		'pg_conninfo with another service');
	$f = write_conf('badsvc.conf', map { s/^service = .*/service = oracle/r } @good);
	($rc, $msg) = check($f);
	like($msg, qr/service: 'oracle' is not one of kv, null, postgres/, 'unknown service');
}

# --- key files ---
my @nopub = map { s{replica-2\.pub}{replica-77.pub}r } @good;
$f = write_conf('nopub.conf', @nopub);
my ($publine) = grep { $nopub[$_ - 1] =~ /^replica\.2 / } 1 .. @nopub;
($rc, $msg) = check($f);
like($msg, qr/^\Q$f\E:$publine: replica\.2: cannot open public key/m,
	'missing public key file: error at its replica line');

system('cp', "$c/keys/replica-1.key", "$dir/loose.key");
chmod(0640, "$dir/loose.key");
my @loose = map { s{^private_key = .*}{private_key = $dir/loose.key}r } @good;
$f = write_conf('loose.conf', @loose);
my ($keyline) = grep { $loose[$_ - 1] =~ /^private_key/ } 1 .. @loose;
($rc, $msg) = check($f);
is($rc, 1, 'group-readable private key fails');
like($msg, qr/^\Q$f\E:$keyline: private_key: .*accessible by group or others \(mode 0640\); run chmod 600/m,
	'group-readable private key: error at its line, with the fix');
{
	my $log = "$dir/loose.log";
	my $pid = start_daemon($f, $log);
	ok(wait_until(5, sub { waitpid($pid, POSIX::WNOHANG()) == $pid }), 'daemon refuses to start with it');
	like(ZZ::slurp($log), qr/accessible by group or others/, '... and logs why');
}

my @other = map { s{^private_key = .*}{private_key = $c/keys/replica-2.key}r } @good;
$f = write_conf('other.conf', @other);
($rc, $msg) = check($f);
like($msg, qr/private_key does not match replica\.1's public key/, 'private key of another replica');

# Keys from before pairwise MAC keys: an Ed25519 key alone, no X25519 key.
{
	my ($edkey) = ZZ::slurp("$c/keys/replica-1.key") =~ /(-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----\n)/s;
	my ($edpub) = ZZ::slurp("$c/keys/replica-1.pub") =~ /(-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----\n)/s;
	for (["old.key", $edkey], ["old.pub", $edpub]) {
		open(my $ofh, '>', "$dir/$_->[0]") or die;
		print $ofh $_->[1];
		close($ofh);
		chmod(0600, "$dir/$_->[0]");
	}
	$f = write_conf('oldpriv.conf', map { s{^private_key = .*}{private_key = $dir/old.key}r } @good);
	($rc, $msg) = check($f);
	like($msg, qr/^\Q$f\E:\d+: private_key: .*holds no X25519 private key/m,
		'an Ed25519-only private key (older keygen) is refused at its line');
	$f = write_conf('oldpub.conf', map { s{^(replica\.1 = \S+) .*}{$1 $dir/old.pub}r } @good);
	($rc, $msg) = check($f);
	like($msg, qr/^\Q$f\E:\d+: replica\.1: .*holds no X25519 public key/m,
		'an Ed25519-only public key is refused at its line');
}

# mac_secret is no longer needed (MAC keys are pairwise); older
# configurations that name one still load.
ok(!grep({ /^mac_secret/ } @good), 'zyzzyva-cluster writes no mac_secret');
$f = write_conf('oldsecret.conf', @good, "mac_secret = $dir/k/mac");
($rc, $msg) = check($f);
is($rc, 0, 'a configuration that still names a mac_secret is valid') or diag($msg);

# view_file: the highest view the replica committed to (keptview.c); a
# file that is there but unreadable stops the daemon rather than let it
# come back in a view it left
{
	is(scalar(grep { /^view_file = replica-1\.view$/ } @good), 1,
		'zyzzyva-cluster gives every replica a view_file');
	$f = write_conf('view.conf', map { s{^view_file = .*}{view_file = $dir/r1.view}r } @good);
	($rc, $msg) = check($f);
	is($rc, 0, 'view_file is a valid key') or diag($msg);
	open(my $vfh, '>', "$dir/r1.view") or die;
	print $vfh "view seven\n";
	close($vfh);
	my $log = "$dir/view.log";
	my $pid = start_daemon($f, $log);
	ok(wait_until(5, sub { waitpid($pid, POSIX::WNOHANG()) == $pid }),
		'daemon refuses to start with a malformed view file');
	like(ZZ::slurp($log), qr/view_file: \Q$dir\E\/r1\.view: expected one line "view N"/,
		'... and logs why');
}

# --- test hooks exist only in the fault-injection build ---
{
	my $conf = "$c/withhold.conf";
	write_conf('c/withhold.conf', split(/\n/, ZZ::slurp("$c/replica-1.conf")),
		'test_withhold_order_req = 0 5 2');
	my ($frc, $fmsg) = check($conf);
	isnt($frc, 0, 'the product zyzzyvad refuses test_withhold_order_req');
	like($fmsg, qr/unknown key 'test_withhold_order_req'/, '... as an unknown key');
	my $fi = `${\ bin('fi/zyzzyvad')} --check-config $conf 2>&1`;
	is($? >> 8, 0, 'the fault-injection build (fi/zyzzyvad) accepts it') or diag($fi);
	my $strings = ZZ::slurp(bin('zyzzyvad'));
	unlike($strings, qr/ZZ_TEST_|withheld from replica|is not 'VIEW SEQ REPLICA'/,
		'no test hook is compiled into the product binary');
}

done_testing();
