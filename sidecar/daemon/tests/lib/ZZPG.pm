# ZZPG.pm: a cluster of PostgreSQL servers and zyzzyvad sidecars
# (service = postgres) for the TAP tests in regress/t/1xx_*.t.
#
# Servers come from PostgreSQL::Test::Cluster; sidecars are started here
# as simple children and stopped by their pid (never by name), also at
# exit.  Every wait is bounded.  Only 127.0.0.1 and Unix sockets are used.
# The daemon's binaries and tools come from $ZZ_BUILD and $ZZ_TOOLS.
package ZZPG;

use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time usleep);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our $build = $ENV{ZZ_BUILD};
our $tools = $ENV{ZZ_TOOLS};
my @all;		# every cluster, for the END block
my $owner = $$;

# ZZPG->new(name => ..., settings => { key => value }, sql => [...],
#           fault_injection => 1, pg_conf => "max_connections = 100\n",
#			entrust => [ 'roles of replica 0', ... ], ext_version => '0.1')
# fault_injection: run the fault-injection build of zyzzyvad
# ($ZZ_BUILD/fi/zyzzyvad), the only one with the test hooks (ZZ_TEST_* in
# the environment, test_withhold_order_req).  pg_conf: lines added to each
# server's postgresql.conf.  ext_version: CREATE EXTENSION ... VERSION
# (default: the control file's).  Four servers with the extension and the given SQL (the same on each,
# before the sidecars start; zyzzyva.replicated_ddl does it through one
# replica instead: regress/t/106), four sidecars connected to them and to
# each other.  Bails out if they do not come up.
sub new
{
	my ($class, %opt) = @_;
	my $self = bless { n => 4, name => $opt{name} // 'zz', pid => [], node => [],
		zyzzyvad => $opt{fault_injection} ? "$build/fi/zyzzyvad" : "$build/zyzzyvad" }, $class;
	my $n = $self->{n};

	BAIL_OUT('ZZ_BUILD and ZZ_TOOLS must name the daemon binaries and tools '
		  . '(run through make tap-check or make pg-daemon-test)')
	  unless $build && $tools && -x $self->{zyzzyvad} && -f "$tools/bank.sql";
	push @all, $self;
	$self->{keys} = PostgreSQL::Test::Utils::tempdir_short();
	$self->{run} = PostgreSQL::Test::Utils::tempdir_short();
	for my $i (0 .. $n - 1)
	{
		my $node = PostgreSQL::Test::Cluster->new("$self->{name}$i");
		$self->{sock}[$i] = "$self->{run}/r$i.sock";
		$node->init;
		$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'zyzzyva'
zyzzyva.socket_path = '$self->{sock}[$i]'
});
		$node->append_conf('postgresql.conf', $opt{pg_conf}) if $opt{pg_conf};
		$node->start;
		$node->safe_psql('postgres',
			'CREATE EXTENSION zyzzyva' . ($opt{ext_version} ? " VERSION '$opt{ext_version}'" : ''));
		# the sidecar's connection: a login role that is not a superuser
		$node->safe_psql('postgres', 'CREATE ROLE zyzzyvad LOGIN IN ROLE zyzzyva_sidecar');
		$node->safe_psql('postgres', $_) for @{ $opt{sql} // [] };
		$self->{node}[$i] = $node;
	}
	system("$build/zyzzyva-keygen", $self->{keys}, $_) == 0 or die 'keygen' for 0 .. $n - 1;
	my @port = map { PostgreSQL::Test::Cluster::get_free_port() } 0 .. $n - 1;
	for my $i (0 .. $n - 1)
	{
		my $node = $self->{node}[$i];
		$self->{conf}[$i] = "$self->{run}/r$i.conf";
		$self->{log}[$i] = "$PostgreSQL::Test::Utils::log_path/zyzzyvad_$self->{name}$i.log";
		my $text = "id = $i\nf = 1\n";
		$text .= "replica.$_ = 127.0.0.1:$port[$_] $self->{keys}/replica-$_.pub\n" for 0 .. $n - 1;
		$text .= "private_key = $self->{keys}/replica-$i.key\n"
		  . "client_socket = $self->{sock}[$i]\nservice = postgres\n"
		  . "pg_conninfo = host=${\ $node->host} port=${\ $node->port} dbname=postgres user=zyzzyvad\n";
		# which roles each replica may call as, the same on every replica:
		# unless told otherwise, the tests' own superuser and every ordinary
		# role
		$text .= "entrust.$_ = " . ($opt{entrust} ? $opt{entrust}[$_] : 'postgres *') . "\n"
		  for 0 .. $n - 1;
		# the view it committed to survives a restart, as in zyzzyva-cluster
		$text .= "view_file = r$i.view\n" unless exists $opt{settings}{view_file};
		$text .= "$_ = $opt{settings}{$_}\n" for sort keys %{ $opt{settings} // {} };
		$self->{conftext}[$i] = $text;
		_write($self->{conf}[$i], $text);
		$self->start_daemon($i);
	}
	$self->wait_until(30, sub { !grep { !$self->ready($_) } 0 .. $n - 1 })
	  or BAIL_OUT('the sidecars did not connect to each other and to their databases');
	return $self;
}

sub _write
{
	my ($path, $text) = @_;
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $text;
	close($fh);
}

sub n { return $_[0]{n}; }
sub node { return $_[0]{node}[ $_[1] ]; }
sub sock { return $_[0]{sock}[ $_[1] ]; }

# Start sidecar i as a simple child (%env: extra environment, e.g. the
# test fault injection variables pgservice.c reads).
sub start_daemon
{
	my ($self, $i, %env) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		$ENV{$_} = $env{$_} for keys %env;
		open(STDOUT, '>>', $self->{log}[$i]) or POSIX::_exit(1);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(1);
		exec($self->{zyzzyvad}, $self->{conf}[$i]) or POSIX::_exit(1);
	}
	$self->{pid}[$i] = $pid;
	return $pid;
}

# SIGTERM sidecar i and wait (at most 10 s); its exit status, or -1.
sub stop_daemon
{
	my ($self, $i) = @_;
	my $pid = $self->{pid}[$i] or return -1;
	kill('TERM', $pid);
	for (1 .. 200)
	{
		if (waitpid($pid, POSIX::WNOHANG()) == $pid)
		{
			$self->{pid}[$i] = undef;
			return $? >> 8;
		}
		usleep(50_000);
	}
	$self->kill_daemon($i);
	return -1;
}

# SIGKILL sidecar i (a crash) and reap it.
sub kill_daemon
{
	my ($self, $i) = @_;
	my $pid = $self->{pid}[$i] or return;
	kill('KILL', $pid);
	waitpid($pid, 0);
	$self->{pid}[$i] = undef;
}

# Start server i again after kill9: its old backends notice the
# postmaster's death and exit; until then the new postmaster refuses to
# start (shared memory in use).  Retries for at most 30 s.
sub start_server
{
	my ($self, $i) = @_;
	for (1 .. 60)
	{
		# a failed start reads the old postmaster.pid and takes its pid
		# for a running server: it is not
		$self->{node}[$i]{_pid} = undef;
		return 1 if $self->{node}[$i]->start(fail_ok => 1);
		usleep(500_000);
	}
	return 0;
}

# Send a signal (STOP, CONT) to sidecar i.
sub signal_daemon
{
	my ($self, $i, $sig) = @_;
	my $pid = $self->{pid}[$i] or return 0;
	return kill($sig, $pid);
}

# Has sidecar i exited (reaped here)?  Its exit status, or undef if running.
sub daemon_exited
{
	my ($self, $i) = @_;
	my $pid = $self->{pid}[$i] or return -1;
	return undef if waitpid($pid, POSIX::WNOHANG()) != $pid;
	$self->{pid}[$i] = undef;
	return $? >> 8;
}

# Sidecar i's log so far.
sub daemon_log
{
	my ($self, $i) = @_;
	return -f $self->{log}[$i] ? slurp_file($self->{log}[$i]) : '';
}

# Add a line to sidecar i's configuration and reload it (SIGHUP).
sub reconfigure
{
	my ($self, $i, $line) = @_;
	$self->{conftext}[$i] .= "$line\n";
	_write($self->{conf}[$i], $self->{conftext}[$i]);
	kill('HUP', $self->{pid}[$i]);
	my $log = $self->{log}[$i];
	return $self->wait_until(10, sub { slurp_file($log) =~ /reload done/ });
}

# Run zyzzyva-cli on replica i's socket; (exit code, output).
sub cli
{
	my ($self, $i, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$build/zyzzyva-cli", '--timeout', '20', '--socket', $self->{sock}[$i], @args ],
		'>', \$out, '2>', \$err);
	return ($? >> 8, $out . $err);
}

# Start zyzzyva-cli in the background; finish with cli_finish.
sub cli_start
{
	my ($self, $i, @args) = @_;
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[ "$build/zyzzyva-cli", '--timeout', '30', '--socket', $self->{sock}[$i], @args ],
		'>', \$r{out}, '2>', \$r{err}, IPC::Run::timeout(60));
	return \%r;
}

sub cli_finish
{
	my ($self, $r) = @_;
	my $ok = eval { $r->{h}->finish; 1 } && $r->{h}->result == 0;
	$r->{h}->kill_kill unless $ok;
	return ($ok ? 0 : 1, $r->{out} . $r->{err});
}

# Sidecar i's status as a hash (empty if it does not answer).
sub status
{
	my ($self, $i) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$build/zyzzyva-cli", '--timeout', '2', '--socket', $self->{sock}[$i], '--status' ],
		'>', \$out, '2>', \$err);
	return { $out =~ /^([\w.]+): (.*)$/mg };
}

sub ready
{
	my ($self, $i) = @_;
	my $st = $self->status($i);
	return ($st->{peers_connected} // -1) == $self->{n} - 1 && ($st->{pg_state} // '') eq 'ready';
}

# One value from replica i's database.
sub q1
{
	my ($self, $i, $sql) = @_;
	return $self->{node}[$i]->safe_psql('postgres', $sql);
}

# The state digests of replicas @$which, distinct.
sub digests
{
	my ($self, $which) = @_;
	return uniq(map { $self->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } @$which);
}

# Poll every 100 ms for at most $seconds.
sub wait_until
{
	my ($self, $seconds, $cond) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	return $cond->();
}

# Have replicas @$which applied the same last batch, their sidecars too
# (and, with $need_stable, marked a stable checkpoint)?  Waits up to 30 s;
# says where each one is if not.
sub converged
{
	my ($self, $which, $need_stable) = @_;
	my $ok = $self->wait_until(
		30,
		sub {
			my @pos =
			  map { $self->q1($_, q{SELECT last_applied_seq || ' ' || stable_seq FROM zyzzyva.status}) }
			  @$which;
			my @last = uniq(map { (split / /)[0] } @pos);
			return 0 if @last != 1;
			return 0 if $need_stable && grep { (split / /)[1] == 0 } @pos;
			my @exec = uniq(map { $self->status($_)->{last_executed} // -1 } @$which);
			return @exec == 1 && $exec[0] == $last[0];
		});
	return 1 if $ok;
	for my $i (@$which)
	{
		my $st = $self->status($i);
		diag("replica $i: database "
			  . $self->q1($i, q{SELECT last_applied_seq || ' stable ' || stable_seq FROM zyzzyva.status})
			  . '; sidecar '
			  . join(' ', map { "$_=" . ($st->{$_} // '?') }
				qw(view mode max_seq last_executed stable_seq pg_state pg_executed pg_db_seq
				  pg_kept_batches pg_errors pg_connects)));
	}
	return 0;
}

# Start pgbench on replica i: $clients clients, $tx transactions each, of
# the script file $script.
sub pgbench_start
{
	my ($self, $i, $clients, $tx, $script) = @_;
	my $node = $self->{node}[$i];
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-h', $node->host, '-p', $node->port,
			'-c', $clients, '-t', $tx, '-f', $script, 'postgres'
		],
		'>', \$r{out}, '2>', \$r{err},
		IPC::Run::timeout(90));
	return \%r;
}

# Wait for a pgbench run; (success, output).
sub pgbench_finish
{
	my ($self, $r) = @_;
	my $ok = eval { $r->{h}->finish; 1 } && $r->{h}->result == 0;
	$r->{h}->kill_kill unless $ok;
	return ($ok, $r->{out} . $r->{err});
}

# --- the recovery tests' workload (regress/t/103-105) ---
#
# bank.sql plus a ledger: pay(id, src, dst, amount) moves amount and adds
# ledger row (id, k) where k counts earlier rows of id, so a request
# executed twice leaves (id, 2) behind instead of failing.
sub ledger_sql
{
	return slurp_file("$tools/bank.sql") . q{
CREATE TABLE ledger (
    id     bigint,
    k      integer,
    src    integer NOT NULL,
    dst    integer NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (id, k)
);
CREATE FUNCTION pay(pid bigint, src integer, dst integer, amount bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k integer;
BEGIN
    SELECT count(*) + 1 INTO k FROM ledger WHERE id = pid;
    INSERT INTO ledger VALUES (pid, k, src, dst, amount);
    RETURN transfer(src, dst, amount);
END
$$;
SELECT zyzzyva.replicate_table('ledger');
SELECT zyzzyva.replicate_function('pay(bigint,integer,integer,bigint)');
};
}

# Start zyzzyva-cli on replica i paying ids $first .. $first + $count - 1
# (one at a time, each completed before the next).
sub pay_start
{
	my ($self, $i, $first, $count) = @_;
	my @calls = map { join(' ', $_, 1 + $_ % 100, 1 + ($_ * 7 + 3) % 100, 1 + $_ % 5) }
	  $first .. $first + $count - 1;
	my $r = $self->cli_start($i, '--verbose', '--call', 'public.pay(bigint,integer,integer,bigint)',
		@calls);
	$r->{first} = $first;
	return $r;
}

# Wait for a pay_start; (exit code, ids completed, output).  The cli
# prints one line per completed call, in order.
sub pay_finish
{
	my ($self, $r) = @_;
	my ($rc, $out) = $self->cli_finish($r);
	my $done = () = $out =~ /^path=\w+ view=\d+ seq=\d+ reply=\d+$/mg;
	return ($rc, [ $r->{first} .. $r->{first} + $done - 1 ], $out);
}

# Pay $count calls through replica $via, ids drawn from this cluster's
# counter; remember the ones that completed (completed()).  True if all did.
sub pay
{
	my ($self, $via, $count) = @_;
	my $r = $self->pay_start($via, $self->take_ids($count), $count);
	my ($rc, $ids, $out) = $self->pay_finish($r);
	push @{ $self->{completed} }, @$ids;
	diag($out) if $rc != 0;
	return $rc == 0;
}

# The first of $count fresh ids for pay_start.
sub take_ids
{
	my ($self, $count) = @_;
	my $first = $self->{next_id} // 1;
	$self->{next_id} = $first + $count;
	return $first;
}

# Bring every replica to one batch and a stable checkpoint: keep paying
# $count calls through replica $via (at most 6 times) until they agree.
sub settle
{
	my ($self, $via, $count) = @_;
	for (1 .. 6)
	{
		$self->pay($via, $count);
		return 1 if $self->converged([ 0 .. $self->{n} - 1 ], 1);
	}
	return 0;
}

# The ids of every completed call so far (pay, and add_completed for calls
# made with pay_start directly).
sub completed { return @{ $_[0]{completed} // [] }; }
sub add_completed { my ($self, @ids) = @_; push @{ $self->{completed} }, @ids; }

# The recovery tests' three checks, on every replica: each completed call
# is in the ledger exactly once and the balances sum to $total; the state
# digests are equal; each matches its rows.
sub check_ledgers
{
	my ($self, $what, $total) = @_;
	my @all = (0 .. $self->{n} - 1);
	my @done = $self->completed;
	my @bad;
	for my $i (@all)
	{
		my ($missing, $twice, $sum) = $self->ledger_check($i, \@done);
		push @bad, "replica $i: $missing completed calls missing, $twice applied twice, sum $sum"
		  if $missing || $twice || $sum != $total;
	}
	is(join('; ', @bad), '',
		"$what: " . scalar(@done) . " completed calls present exactly once everywhere; "
		  . "sum of balances $total");
	is(scalar($self->digests(\@all)), 1, "$what: equal state digests");
	is(join(',', map { $self->q1($_, 'SELECT zyzzyva.verify_digest()') } @all),
		join(',', ('t') x @all), "$what: each digest matches its rows");
}

# On replica i: the ids of @$ids missing from the ledger, and any id
# applied more than once (anywhere in the ledger); the sum of balances.
sub ledger_check
{
	my ($self, $i, $ids) = @_;
	my $list = join(',', @$ids) || 'NULL';
	my $missing = $self->q1($i,
		"SELECT count(*) FROM unnest(ARRAY[$list]::bigint[]) AS w(id) "
		  . "WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = w.id)");
	my $twice = $self->q1($i, 'SELECT count(*) FROM ledger WHERE k > 1');
	my $sum = $self->q1($i, 'SELECT sum(balance) FROM accounts');
	return ($missing, $twice, $sum);
}

# --- issue 12's tests (regress/t/108_*.t) ---

# Run $sql through replica i's psql with the error's SQLSTATE shown
# (VERBOSITY verbose), for at most 40 s; (exit code, stdout, stderr,
# seconds it took).
sub call_verbose
{
	my ($self, $i, $sql) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time();
	my $rc = $self->{node}[$i]->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ], timeout => 40);
	return ($rc, $out, $err, time() - $t0);
}

sub uniq
{
	my %seen;
	return grep { !$seen{$_}++ } @_;
}

END
{
	my $status = $?;
	for my $self ($$ == $owner ? @all : ())
	{
		for my $i (0 .. $self->{n} - 1)
		{
			my $pid = $self->{pid}[$i] or next;
			kill('KILL', $pid);
			waitpid($pid, 0);
		}
		next if Test::More->builder->is_passing;
		for my $l (@{ $self->{log} })
		{
			next unless $l && -f $l;
			diag("== $l (last 30 lines)");
			my @lines = split /\n/, slurp_file($l);
			diag(join("\n", @lines > 30 ? @lines[-30 .. -1] : @lines));
		}
	}
	$? = $status;
}

1;
