# ZZTool.pm: a cluster made and run by the operator's tool
# (sidecar/tools/zyzzyva-cluster start --postgres) for the TAP tests that
# drive it (regress/t/115_restart_tool.t, 119_full_restart.t,
# 120_adopt_tool.t): the tool,
# psql on each replica, bounded client loads of the ledger's pay() and the
# checks that every completed call is applied exactly once everywhere.
#
# The tool starts and stops every process; at exit (END) the cluster is
# stopped with it and, if a test failed, the end of each replica's log is
# shown.  Every wait is bounded.  Needs ZZ_BUILD and ZZ_TOOLS.
package ZZTool;

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my @all;		# every cluster, for the END block
my $owner = $$;
my $sig = 'public.pay(bigint,integer,integer,bigint)';

# ZZTool->new(args => [ extra options of zyzzyva-cluster start ]): four
# servers and four sidecars, started by the tool with --postgres and
# --entrust postgres.  Bails out if the tool fails.
# ZZTool->new(dir => DIR, n => N): a cluster the script makes itself with
# tool(...); nothing is started here.
sub new
{
	my ($class, %opt) = @_;
	my $self = bless { n => $opt{n} // 4, next_id => 1, completed => [],
		tool => "$ENV{ZZ_TOOLS}/zyzzyva-cluster", cli => "$ENV{ZZ_BUILD}/zyzzyva-cli",
		dir => $opt{dir} // PostgreSQL::Test::Utils::tempdir_short() . '/c' }, $class;
	push @all, $self;
	return $self if defined $opt{dir};
	my ($rc, $out) = $self->tool('start', $self->{dir}, '--postgres', '--entrust', 'postgres',
		@{ $opt{args} // [] });
	is($rc, 0, 'zyzzyva-cluster start --postgres: four servers and four sidecars')
	  or BAIL_OUT($out);
	return $self;
}

sub n { return $_[0]{n}; }
sub dir { return $_[0]{dir}; }

# Run the tool; (exit code, output).  Any run marks the cluster as one to
# stop at the end.
sub tool
{
	my ($self, @args) = @_;
	my ($out, $err) = ('', '');
	$self->{started} = 1;
	IPC::Run::run([ $self->{tool}, @args ], '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	my $rc = $? >> 8;
	note("zyzzyva-cluster @args: rc $rc\n$out$err");
	return ($rc, $out . $err);
}

# Replica i's server port.
sub port
{
	my ($self, $i) = @_;
	my $conf = slurp_file("$self->{dir}/pg-$i/zyzzyva-cluster.conf");
	return $conf =~ /^port = '(\d+)'/m ? $1 : die "no port for $i";
}

# psql on database db (default zyzzyva) of replica i's server; (exit code,
# stdout, stderr).
sub psql
{
	my ($self, $i, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h',
			"$self->{dir}/run", '-p', $self->port($i), '-d', $db // 'zyzzyva', '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	chomp $out;
	return ($? >> 8, $out, $err);
}

# One value from replica i; dies on an error.
sub q1
{
	my ($self, $i, $sql, $db) = @_;
	my ($rc, $out, $err) = $self->psql($i, $sql, $db);
	die "replica $i: $sql: $err" if $rc != 0;
	return $out;
}

sub wait_until
{
	my ($seconds, $cond) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(200_000);
	}
	return $cond->();
}

# Start a client on replica i paying $count fresh ids, one call after
# another.
sub pay_start
{
	my ($self, $i, $count) = @_;
	my $first = $self->{next_id};
	$self->{next_id} += $count;
	my @calls = map { join(' ', $_, 1 + $_ % 100, 1 + ($_ * 7 + 3) % 100, 1 + $_ % 5) }
	  $first .. $first + $count - 1;
	my %r = (out => '', err => '', first => $first, count => $count, replica => $i);
	$r{h} = IPC::Run::start(
		[ $self->{cli}, '--timeout', '30', '--socket', "$self->{dir}/run/replica-$i.sock",
			'--role', 'postgres', '--database', 'zyzzyva', '--verbose', '--call', $sig, @calls ],
		'>', \$r{out}, '2>', \$r{err}, IPC::Run::timeout(90));
	return \%r;
}

# Wait for a client and remember the calls that completed (the cli prints
# one line per completed call, in order).  With $quiet, a client cut short
# (its replica was stopped) is expected: not reported.  True if every call
# completed.
sub pay_finish
{
	my ($self, $r, $quiet) = @_;
	my $ok = eval { $r->{h}->finish; 1 } && $r->{h}->result == 0;
	$r->{h}->kill_kill unless $ok;
	my $done = () = $r->{out} =~ /^path=\w+ view=\d+ seq=\d+ reply=\d+$/mg;
	push @{ $self->{completed} }, $r->{first} .. $r->{first} + $done - 1;
	$ok &&= $done == $r->{count};
	diag("client on replica $r->{replica}: $r->{out}$r->{err}") unless $ok || $quiet;
	return $ok;
}

sub completed { return @{ $_[0]{completed} }; }

# The bank and ledger schema, proposed through replicas 0 and 1, and a
# stable checkpoint above it on every replica (a replica resumes from its
# database's checkpoint, and a state transfer cannot cross a replicated
# DDL batch yet).  Returns the sum of the balances.
sub setup_ledger
{
	my ($self) = @_;
	my $n = $self->{n};
	my $ddl = ZZPG::ledger_sql();
	for my $i (0, 1)
	{
		my ($r, undef, $err) = $self->psql($i, "SELECT zyzzyva.replicated_ddl(\$zz\$$ddl\$zz\$)");
		is($r, 0, "the bank and ledger schema proposed through replica $i") or diag($err);
	}
	ok(wait_until(20, sub {
				!grep { $self->q1($_, 'SELECT count(*) FROM zyzzyva.replicated_tables') != 2 }
				  0 .. $n - 1 }),
		'every replica applied the schema');
	my $ddl_seq = $self->q1(0, 'SELECT max(seq) FROM zyzzyva.ddl_log');
	ok(wait_until(60, sub {
				$self->pay_finish($self->pay_start(1, 4));
				!grep { $self->q1($_, 'SELECT stable_seq FROM zyzzyva.status') <= $ddl_seq }
				  0 .. $n - 1;
			}), 'every replica has a stable checkpoint above the schema');
	return $self->q1(0, 'SELECT sum(balance) FROM accounts');
}

# Pay a few calls through replica $via until the four replicas applied the
# same batches (at most 6 rounds).
sub settled
{
	my ($self, $via) = @_;
	my $ok = 0;
	for (1 .. 6)
	{
		$self->pay_finish($self->pay_start($via // 1, 8));
		$ok = wait_until(20, sub {
			my %u = map { $self->q1($_, 'SELECT last_applied_seq FROM zyzzyva.status') => 1 }
			  0 .. $self->{n} - 1;
			keys(%u) == 1;
		});
		last if $ok;
	}
	return $ok;
}

# Every completed call is in every replica's ledger exactly once, the
# balances keep their sum $total, and the four replicas applied the same
# batches with equal state digests that match their rows.
sub check_all
{
	my ($self, $what, $total) = @_;
	my $n = $self->{n};
	ok($self->settled, "$what: the four replicas applied the same batches");
	my $list = join(',', $self->completed) || 'NULL';
	my @bad;
	for my $i (0 .. $n - 1)
	{
		my $missing = $self->q1($i, "SELECT count(*) FROM unnest(ARRAY[$list]::bigint[]) AS w(id) "
			  . 'WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = w.id)');
		my $twice = $self->q1($i, 'SELECT count(*) FROM ledger WHERE k > 1');
		my $sum = $self->q1($i, 'SELECT sum(balance) FROM accounts');
		push @bad, "replica $i: $missing missing, $twice twice, sum $sum"
		  if $missing || $twice || $sum != $total;
	}
	is(join('; ', @bad), '',
		"$what: " . scalar($self->completed) . ' completed calls present exactly once everywhere');
	my %d = map { $self->q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") => 1 } 0 .. $n - 1;
	is(scalar(keys %d), 1, "$what: equal state digests");
	is(join(',', map { $self->q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1),
		join(',', ('t') x $n), "$what: each digest matches its rows");
}

END
{
	my $status = $?;
	for my $self ($$ == $owner ? @all : ())
	{
		next unless $self->{started};
		system($self->{tool}, 'stop', $self->{dir});
		next if $status == 0 && Test::More->builder->is_passing;
		for my $i (0 .. $self->{n} - 1)
		{
			my $log = "$self->{dir}/replica-$i.log";
			next unless -f $log;
			my @l = split /\n/, slurp_file($log);
			diag("== replica-$i.log (last 25 lines)\n" . join("\n", @l > 25 ? @l[-25 .. -1] : @l));
		}
	}
	$? = $status;
}

1;
