# The operator's tool restarts one replica at a time while clients run:
# sidecar/tools/zyzzyva-cluster restart DIR N stops replica N's sidecar and
# server and starts them again, waiting until the replica is back in
# normal mode (docs/operations.md).
#
# A cluster of four PostgreSQL servers and four sidecars made by the tool
# itself (zyzzyva-cluster start --postgres); the bank and the ledger of the
# recovery tests set up through replicated_ddl by two replicas.  Each
# replica in turn, the primary first, is restarted with the tool while two
# bounded client loops (zyzzyva-cli, one call after another) run on two
# other replicas:
#   - the tool exits 0 and says the replica is back in normal mode; stop
#     twice and start twice are idempotent;
#   - every call of every client completes;
#   - at the end every completed call is in every replica's ledger exactly
#     once, the balances keep their sum, and the four replicas applied the
#     same batches with equal state digests that match their rows.
# Then zyzzyva-cluster upgrade (ALTER EXTENSION UPDATE one replica at a
# time, its sidecar stopped meanwhile): calls through every replica
# complete and the replicas agree again.
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
use IPC::Run;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;
use ZZTool;

my $cli = "$ENV{ZZ_BUILD}/zyzzyva-cli";
my $dir = PostgreSQL::Test::Utils::tempdir_short() . '/c';
my $n = 4;
my $sig = 'public.pay(bigint,integer,integer,bigint)';
my $c = ZZTool->new(dir => $dir, n => $n);
sub tool { return $c->tool(@_); }
sub psql { return $c->psql(@_); }
sub q1 { return $c->q1(@_); }

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

# Start a client on replica i paying ids $first .. $first + $count - 1.
my $next_id = 1;
my @completed;
sub pay_start
{
	my ($i, $count) = @_;
	my $first = $next_id;
	$next_id += $count;
	my @calls = map { join(' ', $_, 1 + $_ % 100, 1 + ($_ * 7 + 3) % 100, 1 + $_ % 5) }
	  $first .. $first + $count - 1;
	my %r = (out => '', err => '', first => $first, count => $count, replica => $i);
	$r{h} = IPC::Run::start(
		[ $cli, '--timeout', '30', '--socket', "$dir/run/replica-$i.sock", '--role', 'postgres',
			'--database', 'zyzzyva', '--verbose', '--call', $sig, @calls ],
		'>', \$r{out}, '2>', \$r{err}, IPC::Run::timeout(90));
	return \%r;
}

# Wait for a client; the number of its calls that completed.
sub pay_finish
{
	my ($r) = @_;
	my $ok = eval { $r->{h}->finish; 1 } && $r->{h}->result == 0;
	$r->{h}->kill_kill unless $ok;
	my $done = () = $r->{out} =~ /^path=\w+ view=\d+ seq=\d+ reply=\d+$/mg;
	push @completed, $r->{first} .. $r->{first} + $done - 1;
	diag("client on replica $r->{replica}: $r->{out}$r->{err}") unless $ok && $done == $r->{count};
	return $ok && $done == $r->{count};
}

# --- the cluster, made by the tool ---
my ($rc, $out) = tool('start', $dir, '--postgres', '--set', 'checkpoint_interval=8', '--entrust', 'postgres');
is($rc, 0, 'zyzzyva-cluster start --postgres: four servers and four sidecars') or BAIL_OUT($out);

my $ddl = ZZPG::ledger_sql();
for my $i (0, 1)
{
	my ($r, undef, $err) = psql($i, "SELECT zyzzyva.replicated_ddl(\$zz\$$ddl\$zz\$)");
	is($r, 0, "the bank and ledger schema proposed through replica $i") or diag($err);
}
ok(wait_until(20, sub { !grep { q1($_, 'SELECT count(*) FROM zyzzyva.replicated_tables') != 2 } 0 .. $n - 1 }),
	'every replica applied the schema');
my $total = q1(0, 'SELECT sum(balance) FROM accounts');

# A stable checkpoint above the schema's batch on every replica: a replica
# resumes from its database's checkpoint, and a state transfer cannot
# cross a replicated DDL batch yet.
my $ddl_seq = q1(0, 'SELECT max(seq) FROM zyzzyva.ddl_log');
ok(wait_until(60, sub {
			pay_finish(pay_start(1, 4));
			!grep { q1($_, 'SELECT stable_seq FROM zyzzyva.status') <= $ddl_seq } 0 .. $n - 1;
		}), 'every replica has a stable checkpoint above the schema');

# --- restart each replica in turn under load ---
for my $victim (0 .. $n - 1)
{
	my @load = grep { $_ != $victim } 0 .. $n - 1;
	my @runs = map { pay_start($_, 20) } @load[ 0, 1 ];
	usleep(300_000);
	my ($r, $o) = tool('restart', $dir, $victim, '--timeout', '60');
	is($r, 0, "restart $victim: the tool exits 0");
	like($o, qr/^replica $victim: sidecar and server stopped$/m, "restart $victim: it stopped the sidecar and the server");
	like($o, qr/^replica $victim: server and sidecar started; normal mode$/m,
		"restart $victim: back in normal mode");
	my $all = 1;
	$all &&= pay_finish($_) for @runs;
	ok($all, "restart $victim: every call of the clients on replicas @load[0, 1] completed");
}

# --- idempotence ---
($rc, $out) = tool('stop', $dir, 2);
like($out, qr/^replica 2: sidecar and server stopped$/m, 'stop 2 stops replica 2');
($rc, $out) = tool('stop', $dir, 2);
is($rc, 0, 'stop 2 again exits 0');
like($out, qr/^replica 2: already stopped$/m, 'stop 2 again: already stopped');
ok(pay_finish(pay_start(0, 10)), 'calls complete with replica 2 stopped');
($rc, $out) = tool('start', $dir, 2);
like($out, qr/^replica 2: server and sidecar started; normal mode$/m, 'start 2 starts it again');
($rc, $out) = tool('start', $dir, 2);
is($rc, 0, 'start 2 again exits 0');
like($out, qr/^replica 2: already running; normal mode$/m, 'start 2 again: already running');
($rc, $out) = tool('restart', $dir, 7);
isnt($rc, 0, 'restart of a replica that does not exist fails');

# --- everything agrees ---
sub settled
{
	my $ok = 0;
	for (1 .. 6)
	{
		pay_finish(pay_start(1, 8));
		$ok = wait_until(20, sub {
			my @pos = map { q1($_, 'SELECT last_applied_seq FROM zyzzyva.status') } 0 .. $n - 1;
			my %u = map { $_ => 1 } @pos;
			keys(%u) == 1;
		});
		last if $ok;
	}
	return $ok;
}

sub check_all
{
	my ($what) = @_;
	ok(settled(), "$what: the four replicas applied the same batches");
	my $list = join(',', @completed);
	my @bad;
	for my $i (0 .. $n - 1)
	{
		my $missing = q1($i, "SELECT count(*) FROM unnest(ARRAY[$list]::bigint[]) AS w(id) "
			  . 'WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = w.id)');
		my $twice = q1($i, 'SELECT count(*) FROM ledger WHERE k > 1');
		my $sum = q1($i, 'SELECT sum(balance) FROM accounts');
		push @bad, "replica $i: $missing missing, $twice twice, sum $sum"
		  if $missing || $twice || $sum != $total;
	}
	is(join('; ', @bad), '', "$what: " . scalar(@completed) . ' completed calls present exactly once everywhere');
	my %d = map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") => 1 } 0 .. $n - 1;
	is(scalar(keys %d), 1, "$what: equal state digests");
	is(join(',', map { q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1), 't,t,t,t',
		"$what: each digest matches its rows");
}

check_all('after the restarts');

# --- upgrade: one replica at a time ---
# (a client of the replica whose sidecar is stopped sees its calls refused
# meanwhile, 08006: it retries or uses another replica)
($rc, $out) = tool('upgrade', $dir, '--timeout', '60');
is($rc, 0, 'zyzzyva-cluster upgrade exits 0');
is(scalar(() = $out =~ /^replica \d: extension version 0\.2; back in normal mode$/mg), $n,
	'upgrade: each replica updated and back in normal mode');
my $all = 1;
$all &&= pay_finish(pay_start($_, 5)) for 0 .. $n - 1;
ok($all, 'upgrade: calls through every replica complete');
check_all('after the upgrade');

done_testing();
