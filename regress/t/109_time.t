# The batch time (issue 11 item 7) on four PostgreSQL servers and four
# sidecars: a faulty primary cannot move zyzzyva.now() far into the future
# or back into the past.
#
# Fault injection (test_nd_time_skew, only in the fault-injection build of
# zyzzyvad): replica 0, the primary of view 0, stamps its ORDER-REQs with
# its clock plus a skew.
#   - far in the future (+3e12 ms, about 95 years) from the first batch:
#     every backup refuses the ORDER-REQ ("too far ahead of our clock",
#     more than max_time_ahead), hates the primary, and view 1's primary
#     orders the call with its own clock;
#   - far in the past (-3e12 ms: 1970) after batches with the real time:
#     every backup refuses the ORDER-REQ ("time goes back"), and so on.
# In both, the call completes once, in view 1, and zyzzyva.now() as the
# replicated function saw it is within seconds of the real time, on every
# replica; calls complete afterwards, and the time does not go back.
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
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

# A replicated function that records and returns zyzzyva.now() (in
# milliseconds since the epoch) for call k.
my $setup = q{
CREATE TABLE stamps (k integer PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION stamp(k integer) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO stamps VALUES (k, zyzzyva.now())
          RETURNING (extract(epoch FROM at) * 1000)::bigint $$;
SELECT zyzzyva.replicate_table('stamps');
SELECT zyzzyva.replicate_function('stamp(integer)');
};
my $sig = 'public.stamp(integer)';
my $slack_ms = 30_000;	# the test's clock against the batch time

# Call stamp(k) through replica $i; (exit code, output, reply in ms).
sub stamp
{
	my ($zz, $i, $k) = @_;
	my ($rc, $out) = $zz->cli($i, '--verbose', '--call', $sig, "$k");
	my ($ms) = $out =~ /reply=(\d+)/;
	return ($rc, $out, $ms);
}

# zyzzyva.now() of call k as each replica in @$which recorded it, in ms.
sub recorded
{
	my ($zz, $which, $k) = @_;
	return map {
		$zz->q1($_, "SELECT (extract(epoch FROM at) * 1000)::bigint FROM stamps WHERE k = $k")
	} @$which;
}

# One case: $skew (ms) on replica 0 from the start, or after $before
# calls with the real time.  $why: the refusal the backups log.
sub run_case
{
	my ($name, $skew, $before, $why) = @_;
	my $zz = ZZPG->new(
		name => $name,
		# a bound well under the skew, well over this machine's jitter; the
		# CONFIRM-REQ timer stays long, so that only the refusal changes
		# the view
		settings => { max_time_ahead => '5s', confirm_timeout => '10s', log_level => 'debug' },
		sql => [$setup],
		fault_injection => 1);
	my $k = 0;
	my $last = 0;
	for (1 .. $before)
	{
		my ($rc, $out, $ms) = stamp($zz, 2, ++$k);
		is($rc, 0, "$name: call $k with the real time completes") or diag($out);
		$last = $ms // 0;
	}
	ok($zz->reconfigure(0, "test_nd_time_skew = $skew"),
		"$name: replica 0, the primary, stamps its batches $skew ms off");

	my $t0 = time() * 1000;
	my ($rc, $out, $ms) = stamp($zz, 2, ++$k);
	my $t1 = time() * 1000;
	is($rc, 0, "$name: the call completes") or diag($out);
	like($out, qr/^path=\w+ view=[1-9]\d* seq=\d+ reply=\d+$/m, "$name: ... in a later view");
	ok(defined $ms && $ms >= $t0 - $slack_ms && $ms <= $t1 + $slack_ms,
		"$name: zyzzyva.now() in the replicated function is the real time")
	  or diag("reply $ms ms, real time $t0 .. $t1 ms");
	cmp_ok($ms // 0, '>=', $last, "$name: ... and not before the previous call's");
	ok($zz->wait_until(20, sub { !grep { $_ eq '' } recorded($zz, [ 1 .. 3 ], $k) }),
		"$name: replicas 1-3 applied it");
	my @at = recorded($zz, [ 1 .. 3 ], $k);
	is(join(',', @at), join(',', ($ms // '?') x 3), "$name: ... with the same time on each");
	# f+1 refusals change the view; a backup whose copy of the ORDER-REQ
	# comes after the others' I-HATEs may already be changing views and
	# never judge it
	my @refused = grep { $zz->daemon_log($_) =~ /I-HATE-THE-PRIMARY of view 0: ORDER-REQ \Q$why\E/ } 1 .. 3;
	cmp_ok(scalar(@refused), '>=', 2,
		"$name: at least f+1 backups refused the primary's ORDER-REQ ($why): " . join(',', @refused));
	is(join(',', map { $zz->q1($_, 'SELECT last_applied_view FROM zyzzyva.status') } 1 .. 3),
		'1,1,1', "$name: view 1 replaced the primary");

	# afterwards: calls through every correct replica complete, with times
	# that go forward from the real time
	my $prev = $ms // 0;
	for my $i (1 .. 3)
	{
		my ($rc2, $out2, $ms2) = stamp($zz, $i, ++$k);
		is($rc2, 0, "$name: call $k through replica $i completes") or diag($out2);
		ok(defined $ms2 && $ms2 >= $prev && $ms2 <= time() * 1000 + $slack_ms,
			"$name: ... at the real time, not before the previous call");
		$prev = $ms2 // $prev;
	}
	is(scalar($zz->digests([ 1 .. 3 ])), 1, "$name: replicas 1-3 have equal state digests");
	is($zz->stop_daemon($_), 0, "$name: sidecar $_ exits 0 on SIGTERM") for 0 .. 3;
	$zz->node($_)->stop for 0 .. 3;
}

run_case('future', '3e12', 0, 'time too far ahead of our clock');
run_case('past', '-3e12', 2, 'time goes back');
done_testing();
