# Poison requests (issue 12, item 1): a request's own failure is its reply
# on every replica, whatever its SQLSTATE, and a request that runs longer
# than zyzzyva.request_timeout is cancelled with one clear error.  None of
# them halts the cluster: calls through another replica keep completing
# meanwhile, no sidecar retries a batch, every replica stays normal.  Then
# a failure of the database itself (an operator cancelling one replica's
# apply session, again and again) does make that replica retry its batch,
# and it says so: condition stalled, with the reason, in its status and
# its log; once the cancels stop it goes on and is normal again.
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
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $poison_sql = q{
CREATE FUNCTION raise_code(code text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET balance = balance + 1 WHERE id = 1;
    RAISE EXCEPTION 'poison %', code USING ERRCODE = code;
END $$;
CREATE FUNCTION spin() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET balance = balance + 1 WHERE id = 2;
    LOOP
    END LOOP;
END $$;
CREATE FUNCTION nap(s float8) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET balance = balance + 1 WHERE id = 3;
    PERFORM pg_sleep(s);
    RETURN 'rested';
END $$;
CREATE FUNCTION stubborn() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET balance = balance + 1 WHERE id = 4;
    LOOP
        BEGIN
            PERFORM pg_sleep(60);
        EXCEPTION WHEN query_canceled THEN
            RETURN 'caught the cancel';
        END;
    END LOOP;
END $$;
SELECT zyzzyva.replicate_function('raise_code(text)');
SELECT zyzzyva.replicate_function('spin()');
SELECT zyzzyva.replicate_function('nap(double precision)');
SELECT zyzzyva.replicate_function('stubborn()');
};

my $zz = ZZPG->new(
	name => 'poison',
	settings => { checkpoint_interval => 8 },
	sql => [
		ZZPG::ledger_sql(), $poison_sql,
		q{ALTER SYSTEM SET zyzzyva.request_timeout = '2s'}, 'SELECT pg_reload_conf()'
	]);
my $n = $zz->n;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
is($zz->q1(0, 'SHOW zyzzyva.request_timeout'), '2s', 'the budget is 2 s');
ok($zz->pay(1, 8), 'calls complete before');

# a call through replica 0 with the error's SQLSTATE shown; (rc, stderr, seconds)
sub call
{
	my ($rc, $out, $err, $secs) = $zz->call_verbose(0, $_[0]);
	return ($rc, $err, $secs);
}

# load through replica 1 the whole time
my $load = $zz->pay_start(1, $zz->take_ids(300), 300);

for my $code (qw(40001 53100 XX000 40P01 57P01 57014 08006))
{
	my ($rc, $err) = call("SELECT raise_code('$code')");
	isnt($rc, 0, "a function raising $code fails");
	like($err, qr/ERROR:\s+$code: poison $code/, "... and the caller gets its error, $code");
}
for my $case (
	[ 'SELECT spin()', 'an infinite loop' ],
	[ 'SELECT nap(20)', 'pg_sleep(20) beyond the budget' ],
	[ 'SELECT stubborn()', 'a function that catches the cancel' ])
{
	my ($sql, $what) = @$case;
	my ($rc, $err, $secs) = call($sql);
	isnt($rc, 0, "$what fails");
	like($err, qr/ERROR:\s+57014: request cancelled: it ran longer than zyzzyva.request_timeout allows/,
		"... with the budget's error");
	cmp_ok($secs, '<', 15, "... in ${\ sprintf('%.1f', $secs)} s, not its whole run");
}
my ($rc, $err) = call('SELECT nap(0.2)');
is($rc, 0, 'a short sleep within the budget completes');
$total++;	# (nap adds 1 to account 3)

my ($lrc, $ids, $lout) = $zz->pay_finish($load);
$zz->add_completed(@$ids);
is($lrc, 0, 'the load through replica 1 completed every call meanwhile') or diag($lout);
ok($zz->settle(1, 4), 'all four agree at a stable checkpoint');
is(join(',', map { $zz->status($_)->{pg_errors} // '?' } 0 .. $n - 1), join(',', ('0') x $n),
	'no sidecar retried a batch');
is(join(',', map { $zz->q1($_, 'SELECT condition FROM zyzzyva.status') } 0 .. $n - 1),
	join(',', ('normal') x $n), 'every replica is normal');
# (the failed requests each added 1 to an account: had one been kept, the
# sum of balances would show it)
$zz->check_ledgers('after the poison requests', $total);

# --- a failure of the database itself: replica 3's apply session cancelled
my $log_before = length($zz->daemon_log(3));
my $slow = $zz->cli_start(0, '--call', 'public.nap(double precision)', '1.8');
my $seen = '';
my $stalled = $zz->wait_until(
	30,
	sub {
		$seen .= $zz->q1(3, q{SELECT string_agg(application_name || ' ' || state || ' '
			|| left(query, 60) || ' ' || pg_cancel_backend(pid), '; ') FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state = 'active'
			AND query LIKE 'SELECT reply FROM zyzzyva.apply_batch%'}) . "\n";
		return ($zz->status(3)->{pg_state} // '') eq 'stalled';
	});
ok($stalled, "replica 3, its batch cancelled again and again, reports itself stalled")
  or diag($seen);
$total++;
like($zz->status(3)->{pg_stall_reason} // '',
	qr/the database failed batch \d+ \d+ times \(57014: canceling statement due to user request\); retrying/,
	'... with the reason in its status');
my $cond = '';
$zz->wait_until(
	20,
	sub {
		$zz->q1(3, q{SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND state = 'active'
			AND query LIKE 'SELECT reply FROM zyzzyva.apply_batch%'});
		$cond = $zz->q1(3, q{SELECT condition || ': ' || coalesce(condition_detail, '') FROM zyzzyva.status});
		return $cond =~ /^stalled/;
	});
like($cond, qr/^stalled: the database failed batch \d+ \d+ times \(57014/, '... and in zyzzyva.status');
my $log = substr($zz->daemon_log(3), $log_before);
like($log, qr/batch \d+ failed in the database \(attempt \d+\), not because of a request: 57014/,
	'... and in its log');
like($log, qr/condition: stalled: the database failed batch/, '... with the condition change');
my ($src, $sout) = $zz->cli_finish($slow);
is($src, 0, 'the call completed through the other three meanwhile') or diag($sout);
ok($zz->wait_until(30, sub { ($zz->status(3)->{pg_state} // '') eq 'ready' }),
	'once the cancels stop, replica 3 applies the batch');
like(substr($zz->daemon_log(3), $log_before), qr/batch \d+ applied after \d+ failures/, '... and says so');
ok($zz->settle(1, 4), 'all four agree again');
ok($zz->wait_until(20, sub { $zz->q1(3, 'SELECT condition FROM zyzzyva.status') eq 'normal' }),
	'replica 3 is normal again');
$zz->check_ledgers('at the end', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
