# A rolling upgrade caught half-way (docs/transfer.md, "Versions"): three
# replicas already run the extension's version 0.2, replica 3's database
# is still on 0.1, and its log was truncated everywhere while it was away.
# The others serve state transfers only in chunks (a manifest), which a
# 0.1 database cannot install: replica 3 must say so, as an error at most
# every 10 s naming ALTER EXTENSION zyzzyva UPDATE, and in its condition,
# and install once its database is updated (the sidecar looks again when
# it refuses, without a restart).
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
	name => 'oldext',
	ext_version => '0.1',
	# no retained log: replica 3 must need a state transfer, not a replay
	settings => { checkpoint_interval => 4, retain_batches => 0, checkpoint_resend => '300ms' },
	sql => [ ZZPG::ledger_sql() ]);
my $version = q{SELECT extversion FROM pg_extension WHERE extname = 'zyzzyva'};
my $too_old = qr/cannot install checkpoint \d+ from replica \d+: it came as a chunked state transfer, and this database's extension \(zyzzyva 0\.1\) is too old to install one; run ALTER EXTENSION zyzzyva UPDATE in it/;

ok($zz->pay($_, 5), "calls through replica $_ complete on 0.1") for 0 .. 3;
is($zz->stop_daemon(3), 0, 'replica 3: sidecar stopped');

# replicas 0 to 2 updated, one at a time; their sidecars connect again and
# find the chunk functions
for my $i (0 .. 2)
{
	is($zz->stop_daemon($i), 0, "replica $i: sidecar stopped");
	$zz->node($i)->safe_psql('postgres', 'ALTER EXTENSION zyzzyva UPDATE');
	$zz->start_daemon($i);
}
is(join(',', map { $zz->q1($_, $version) } 0 .. 3), '0.2,0.2,0.2,0.1', 'replicas 0 to 2 on 0.2, replica 3 on 0.1');
ok($zz->wait_until(60, sub { ($zz->status(0)->{pg_transfer_mode} // '') eq 'chunked' }),
	'replica 0 serves in chunks');

# past a few checkpoints without replica 3: its log is truncated everywhere
ok($zz->pay($_ % 3, 6), "calls through replica " . ($_ % 3) . " complete without replica 3") for 0 .. 5;

$zz->start_daemon(3);
my $t0 = time();
my $refused = sub { $zz->status(3)->{pg_transfer_refused_too_old} // 0 };
my $polls = 0;
ok($zz->wait_until(90, sub {
			$zz->pay(0, 1) if ++$polls % 30 == 0;
			return $refused->() >= 2;
		}), 'replica 3 refuses the manifests it is sent');
my $log = $zz->daemon_log(3);
like($log, qr/ERROR: postgres: $too_old/, 'the refusal is an error naming ALTER EXTENSION zyzzyva UPDATE');
my $lines = () = $log =~ /$too_old/g;
my $n = $refused->();
my $secs = time() - $t0;
cmp_ok($lines, '<=', 1 + int($secs / 10), "the error is rate-limited ($lines lines for $n refusals in $secs s)");
is($zz->status(3)->{pg_condition}, 'stalled', 'replica 3 is stalled');
like($log, qr/condition: stalled: this database's extension \(zyzzyva 0\.1\) cannot install the chunked state transfers the other replicas send: run ALTER EXTENSION zyzzyva UPDATE/,
	'its condition says why');

# the update: the sidecar notices at its next refusal and installs
$zz->node(3)->safe_psql('postgres', 'ALTER EXTENSION zyzzyva UPDATE');
$polls = 0;
ok($zz->wait_until(90, sub {
			my $st = $zz->status(3);
			return 1 if $zz->ready(3) && ($st->{pg_condition} // '') eq 'normal'
			  && ($st->{mode} // '') eq 'normal';
			$zz->pay(0, 1) if ++$polls % 30 == 0;
			return 0;
		}), 'after ALTER EXTENSION zyzzyva UPDATE replica 3 is back in normal mode');
like($zz->daemon_log(3), qr/chunked state transfer of checkpoint \d+ from replica \d+ done/,
	'by a chunked transfer');
ok($zz->pay(3, 3), 'calls through replica 3 complete');
ok($zz->converged([ 0 .. 3 ], 1), 'every replica at the same batch');
my @digests = $zz->digests([ 0 .. 3 ]);
is(scalar(@digests), 1, 'and the same state digest');

done_testing();
