# Four PostgreSQL servers and four sidecars (zyzzyvad, service = postgres)
# on loopback: a bank whose transfer() is replicated.
#
#   - plain SQL calls on every replica, concurrently (pgbench), all complete;
#   - after a checkpoint the four databases have equal state digests (also
#     recorded with the stable checkpoint) that match their rows;
#   - read-your-writes on the calling replica; zyzzyva.now() is the
#     primary's wall-clock time, the same on every replica;
#   - bad calls get the function's or the extension's error as their
#     reply, the same on every replica, and change nothing;
#   - a backup's PostgreSQL restarted: its sidecar reconnects and catches up;
#   - a backup's sidecar killed under load: every call still completes.
#
# Needs the daemon's binaries: ZZ_BUILD and ZZ_TOOLS (set by the Makefile's
# tap-check and pg-daemon-test).  Every process started here is stopped by
# its pid; every wait is bounded.
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time usleep);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $build = $ENV{ZZ_BUILD};
my $tools = $ENV{ZZ_TOOLS};
BAIL_OUT('ZZ_BUILD and ZZ_TOOLS must name the daemon binaries and tools '
	  . '(run through make tap-check or make pg-daemon-test)')
  unless $build && $tools && -x "$build/zyzzyvad" && -f "$tools/bank.sql";

my $n = 4;
my $sig = 'public.transfer(integer,integer,bigint)';
my $keys = PostgreSQL::Test::Utils::tempdir_short();
my $run = PostgreSQL::Test::Utils::tempdir_short();
my (@node, @pid, @sock, @conf, @log);

# --- four servers, each with the bank ---
my $bank = slurp_file("$tools/bank.sql");
for my $i (0 .. $n - 1)
{
	$sock[$i] = "$run/r$i.sock";
	$node[$i] = PostgreSQL::Test::Cluster->new("replica$i");
	$node[$i]->init;
	$node[$i]->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'zyzzyva'
zyzzyva.socket_path = '$sock[$i]'
});
	$node[$i]->start;
	$node[$i]->safe_psql('postgres', 'CREATE EXTENSION zyzzyva');
	$node[$i]->safe_psql('postgres', $bank);
	$node[$i]->safe_psql(
		'postgres', q{
CREATE FUNCTION whattime() RETURNS timestamptz LANGUAGE sql AS $$ SELECT zyzzyva.now() $$;
SELECT zyzzyva.replicate_function('whattime()');
});
}

# --- four sidecars ---
system("$build/zyzzyva-keygen", $keys, $_) == 0 or die "keygen" for 0 .. $n - 1;
system("$build/zyzzyva-keygen", '--secret', "$keys/mac.secret") == 0 or die "keygen";
my @port = map { PostgreSQL::Test::Cluster::get_free_port() } 0 .. $n - 1;
for my $i (0 .. $n - 1)
{
	$conf[$i] = "$run/r$i.conf";
	$log[$i] = "$PostgreSQL::Test::Utils::log_path/zyzzyvad_$i.log";
	open(my $fh, '>', $conf[$i]) or die "$conf[$i]: $!";
	print $fh "id = $i\nf = 1\n";
	print $fh "replica.$_ = 127.0.0.1:$port[$_] $keys/replica-$_.pub\n" for 0 .. $n - 1;
	print $fh "private_key = $keys/replica-$i.key\nmac_secret = $keys/mac.secret\n",
	  "client_socket = $sock[$i]\nservice = postgres\n",
	  "pg_conninfo = host=${\ $node[$i]->host} port=${\ $node[$i]->port} dbname=postgres\n",
	  "checkpoint_interval = 8\n";
	close($fh);
	$pid[$i] = start_daemon($i);
}

ok( wait_until(30, sub { !grep { !ready($_) } 0 .. $n - 1 }),
	'four sidecars connected to each other and to their databases')
  or BAIL_OUT('the cluster did not come up');

# --- concurrent plain SQL calls on every replica ---
my $script = "$PostgreSQL::Test::Utils::tmp_check/transfers.sql";
open(my $sfh, '>', $script) or die;
print $sfh "\\set a random(1, 100)\n\\set b random(1, 100)\n\\set amount random(1, 10)\n",
  "SELECT transfer(:a, :b, :amount);\n";
close($sfh);
my @runs = map { pgbench_start($_, 2, 12) } 0 .. $n - 1;
my $all = 1;
for my $i (0 .. $n - 1)
{
	my ($ok, $out) = pgbench_finish($runs[$i]);
	$all &&= $ok && $out =~ m{actually processed: 24/24};
	diag($out) unless $ok;
}
ok($all, 'pgbench: 2 clients on each of the 4 replicas, 12 replicated calls each, all complete');

ok(converged([0 .. $n - 1], 1), 'every replica applied the same batches, past a stable checkpoint');
my @digest = map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1;
is(scalar(uniq(@digest)), 1, "equal state digests on the four replicas ($digest[0])");
my @stable = map {
	q1($_, "SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), 'none') FROM zyzzyva.status")
} 0 .. $n - 1;
is(scalar(uniq(@stable)), 1, "... and the same stable checkpoint and its digest ($stable[0])");
unlike($stable[0], qr/none|^0 /, '... which the sidecar recorded');
is(join(',', map { q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1),
	't,t,t,t', 'each digest matches its rows');
is(join(',', map { q1($_, 'SELECT sum(balance) FROM accounts') } 0 .. $n - 1),
	'100000,100000,100000,100000', 'no money made or lost');

# --- read-your-writes, and the primary's time ---
{
	my $before = q1(3, 'SELECT balance FROM accounts WHERE id = 5');
	my $out = $node[3]->safe_psql('postgres',
		"SELECT transfer(5, 6, 1);\nSELECT balance FROM accounts WHERE id = 5;");
	is($out, ($before - 1) . "\n" . ($before - 1),
		'the statement after a call on replica 3 reads its effect there');

	my $t = q1(1, "SELECT extract(epoch FROM whattime())");
	cmp_ok(abs($t - time()), '<', 120, 'zyzzyva.now() in a replicated call is the wall clock');
	ok(converged([0 .. $n - 1], 0), 'replicas converge again');
	my $seq = q1(1, 'SELECT max(seq) FROM zyzzyva.batch_log');
	is(scalar(uniq(map { q1($_, "SELECT nd_time FROM zyzzyva.batch_log WHERE seq = $seq") } 0 .. $n - 1)),
		1, '... and every replica executed it with the same nd_time');
}

# --- bad calls ---
{
	my %bad = (
		'unknown function' => [ [ '--call', 'public.nosuch(integer)', '1' ],
			qr/^ERROR 42883: function public\.nosuch\(integer\) is not replicated$/ ],
		'wrong argument count' => [ [ '--call', $sig, '1 2' ],
			qr/^ERROR 22P03: malformed request: .*takes 3 arguments/ ],
		'argument not of its type' => [ [ '--call', $sig, '1 2 lots' ],
			qr/^ERROR 22P02: invalid input syntax for type bigint: "lots"$/ ],
		'the function raises' => [ [ '--call', $sig, '1 2 -5' ],
			qr/^ERROR P0001: amount must be positive, not -5$/ ],
		'not a call at all' => [ [ '--decode', '--', 'GET key' ],
			qr/^ERROR 22P03: malformed request: / ],);
	for my $what (sort keys %bad)
	{
		my ($args, $want) = @{ $bad{$what} };
		my ($rc, $out) = cli(2, @$args);
		is($rc, 0, "bad call ($what) completes") or diag($out);
		like($out, $want, "... with the error as its reply");
	}
	my ($ret, $stdout, $stderr) = $node[0]->psql('postgres', 'SELECT transfer(1, 2, 0)');
	like($stderr, qr/ERROR:  amount must be positive, not 0/,
		'through SQL, the function\'s error is raised in the caller');
	ok(converged([0 .. $n - 1], 0), 'replicas converge after the bad calls');
	is(scalar(uniq(map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1)),
		1, '... with equal digests');
	is(q1(0, 'SELECT sum(balance) FROM accounts'), '100000', '... and nothing changed by them');
}

# --- a backup's PostgreSQL restarted ---
{
	my $before = status(2)->{pg_connects};
	$node[2]->stop('immediate');
	my ($rc, $out) = cli(0, '--call', $sig, '20 21 3', '21 20 1', '22 23 2');
	is($rc, 0, 'calls complete while a backup\'s database is down') or diag($out);
	$node[2]->start;
	ok(wait_until(30, sub { (status(2)->{pg_connects} // 0) > $before && status(2)->{pg_state} eq 'ready' }),
		'its sidecar reconnects');
	# One more call: if the outage spanned the edge of replica 2's window
	# (its next checkpoint could not become stable without its database),
	# the ORDER-REQs beyond it were dropped, and the hole is noticed at the
	# next one (the core does not ask for them when its window moves).
	($rc, $out) = cli(1, '--call', $sig, '23 22 2');
	is($rc, 0, 'calls go on') or diag($out);
	ok(converged([0 .. $n - 1], 0), '... and replica 2 applies what it missed');
	is(scalar(uniq(map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1)),
		1, '... to the same state');
}

# --- a backup's sidecar killed under load ---
{
	my $commit0 = status(0)->{requests_completed_commit};
	my @load = map { pgbench_start($_, 2, 25) } 0 .. 2;
	usleep(300_000);
	kill('KILL', $pid[3]);
	waitpid($pid[3], 0);
	$pid[3] = undef;
	my $all_ok = 1;
	for my $r (@load)
	{
		my ($ok, $out) = pgbench_finish($r);
		$all_ok &&= $ok && $out =~ m{actually processed: 50/50};
		diag($out) unless $ok;
	}
	ok($all_ok, 'replica 3\'s sidecar killed under load: every call on replicas 0-2 completes');
	cmp_ok(status(0)->{requests_completed_commit}, '>', $commit0, '... through the commit path');
	ok(converged([0 .. 2], 0), 'replicas 0-2 apply the same batches');
	is(scalar(uniq(map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. 2)),
		1, '... with equal digests');
	my $t0 = time();
	my ($ret, $o, $e) = $node[3]->psql('postgres', 'SELECT transfer(1, 2, 1)', timeout => 60);
	isnt($ret, 0, 'a call on replica 3, whose sidecar is gone, fails');
	cmp_ok(time() - $t0, '<', 40, '... without hanging');
}

for my $i (0 .. 2)
{
	is(stop_daemon($i), 0, "sidecar $i exits 0 on SIGTERM");
}
$node[$_]->stop for 0 .. $n - 1;
done_testing();

# ------------------------------------------------------------------------

# Start sidecar i as a simple child; returns its pid.
sub start_daemon
{
	my ($i) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>>', $log[$i]) or POSIX::_exit(1);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(1);
		exec("$build/zyzzyvad", $conf[$i]) or POSIX::_exit(1);
	}
	return $pid;
}

# SIGTERM sidecar i and wait (at most 10 s); its exit status, or -1.
sub stop_daemon
{
	my ($i) = @_;
	return -1 unless $pid[$i];
	kill('TERM', $pid[$i]);
	for (1 .. 200)
	{
		if (waitpid($pid[$i], POSIX::WNOHANG()) == $pid[$i])
		{
			$pid[$i] = undef;
			return $? >> 8;
		}
		usleep(50_000);
	}
	kill('KILL', $pid[$i]);
	waitpid($pid[$i], 0);
	$pid[$i] = undef;
	return -1;
}

# Run zyzzyva-cli on replica i's socket; (exit code, output).
sub cli
{
	my ($i, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$build/zyzzyva-cli", '--timeout', '20', '--socket', $sock[$i], @args ],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $out . $err);
}

# Sidecar i's status as a hash (empty if it does not answer).
sub status
{
	my ($i) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$build/zyzzyva-cli", '--timeout', '2', '--socket', $sock[$i], '--status' ],
		'>', \$out, '2>', \$err);
	return { $out =~ /^([\w.]+): (.*)$/mg };
}

sub ready
{
	my $st = status($_[0]);
	return ($st->{peers_connected} // -1) == $n - 1 && ($st->{pg_state} // '') eq 'ready';
}

# One value from replica i's database.
sub q1
{
	my ($i, $sql) = @_;
	return $node[$i]->safe_psql('postgres', $sql);
}

# Poll every 100 ms for at most $seconds.
sub wait_until
{
	my ($seconds, $cond) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	return $cond->();
}

# Have replicas @$which applied the same last batch (and, with
# $need_stable, marked a stable checkpoint)?  Waits up to 30 s.
sub converged
{
	my ($which, $need_stable) = @_;
	my $ok = wait_until(
		30,
		sub {
			my @pos = map { q1($_, 'SELECT last_applied_seq || \' \' || stable_seq FROM zyzzyva.status') }
			  @$which;
			my @last = uniq(map { (split / /)[0] } @pos);
			return 0 if @last != 1;
			return 0 if $need_stable && grep { (split / /)[1] == 0 } @pos;
			my @exec = uniq(map { status($_)->{last_executed} // -1 } @$which);
			return @exec == 1 && $exec[0] == $last[0];
		});
	return 1 if $ok;
	for my $i (@$which)
	{
		my $st = status($i);
		diag("replica $i: database "
			  . q1($i, 'SELECT last_applied_seq || \' stable \' || stable_seq FROM zyzzyva.status')
			  . '; sidecar '
			  . join(' ', map { "$_=" . ($st->{$_} // '?') }
				qw(view mode max_seq last_executed stable_seq pg_state pg_executed pg_db_seq pg_kept_batches pg_errors pg_connects)));
	}
	return 0;
}

# Start pgbench on replica i: $clients clients, $tx transactions each.
sub pgbench_start
{
	my ($i, $clients, $tx) = @_;
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-h', $node[$i]->host, '-p', $node[$i]->port,
			'-c', $clients, '-t', $tx, '-f', $script, 'postgres'
		],
		'>', \$r{out}, '2>', \$r{err},
		IPC::Run::timeout(90));
	return \%r;
}

# Wait for a pgbench run; (success, output).
sub pgbench_finish
{
	my ($r) = @_;
	my $ok = eval { $r->{h}->finish; 1 } && $r->{h}->result == 0;
	$r->{h}->kill_kill unless $ok;
	return ($ok, $r->{out} . $r->{err});
}

sub uniq
{
	my %seen;
	return grep { !$seen{$_}++ } @_;
}

END
{
	my $status = $?;
	for my $i (0 .. $#pid)
	{
		next unless $pid[$i];
		kill('KILL', $pid[$i]);
		waitpid($pid[$i], 0);
	}
	if (!Test::More->builder->is_passing)
	{
		for my $l (@log)
		{
			next unless $l && -f $l;
			diag("== $l (last 30 lines)");
			my @lines = split /\n/, slurp_file($l);
			diag(join("\n", @lines > 30 ? @lines[-30 .. -1] : @lines));
		}
	}
	$? = $status;
}
