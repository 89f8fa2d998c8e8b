# Every replica stops at once and starts again: no completed call is lost
# and the cluster goes on (docs/durability.md, "Restart with the history").
#
# A cluster of four PostgreSQL servers and four sidecars made by the tool
# (zyzzyva-cluster start --postgres), the bank and the ledger set up
# through replicated_ddl.  First the primary of view 0 is stopped under
# load, so the others change view, and started again: the batches above
# the stable checkpoint then come from a later view than the checkpoint's
# (a cluster that rolled back to it ordered the next batch in view 0 and
# every database refused it, for good).  Then two rounds, each under two
# bounded client loops (zyzzyva-cli, one call after another):
#   1. zyzzyva-cluster stop DIR: every sidecar and every server, at once;
#      then zyzzyva-cluster start DIR;
#   2. kill -9 of all four sidecars, their servers left running; then
#      zyzzyva-cluster start DIR starts the sidecars again.
# After each round:
#   - the sidecars took back their own history above their stable
#     checkpoints (their logs say up to which batch), at least one of them
#     above its checkpoint, so the round tested something;
#   - every call a client saw complete is in every replica's ledger
#     exactly once, the balances keep their sum, and the four replicas
#     applied the same batches with equal state digests that match their
#     rows;
#   - new calls through every replica complete.
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
use PostgreSQL::Test::Utils;
use Test::More;
use ZZTool;

my $c = ZZTool->new(args => [ '--set', 'checkpoint_interval=16' ]);
my $dir = $c->dir;
my $n = $c->n;
my $total = $c->setup_ledger;

# What the sidecars' logs say about their restarts since offset @$from:
# (resumed above the checkpoint, a summary).
sub resumed
{
	my ($from) = @_;
	my ($above, @what) = (0);
	for my $i (0 .. $n - 1)
	{
		my $log = slurp_file("$dir/replica-$i.log");
		my $tail = substr($log, $from->[$i]);
		if ($tail =~ /resumed at stable checkpoint (\d+) with this replica's history up to batch (\d+)/)
		{
			$above++ if $2 > $1;
			push @what, "replica $i: checkpoint $1, history up to $2";
		}
		else
		{
			push @what, "replica $i: no restart with its history";
		}
	}
	return ($above, join('; ', @what));
}

sub log_sizes
{
	return [ map { -s "$dir/replica-$_.log" // 0 } 0 .. $n - 1 ];
}

# --- a view change first: the primary of view 0 stops under load ---
{
	my @runs = map { $c->pay_start($_, 80) } 1, 2;
	usleep(300_000);
	my ($rc, $out) = $c->tool('stop', $dir, 0);
	is($rc, 0, 'the primary of view 0 stopped');
	my $all = 1;
	$all &&= $c->pay_finish($_) for @runs;
	ok($all, 'every call through replicas 1 and 2 completed without it');
	($rc, $out) = $c->tool('start', $dir, 0, '--timeout', '60');
	like($out, qr/^replica 0: server and sidecar started; normal mode$/m, 'replica 0 is back');
	ok($c->q1(1, 'SELECT last_applied_view FROM zyzzyva.status') >= 1,
		'the last batches come from a later view than 0');
	$c->check_all('after the view change', $total);
}

# --- the rounds ---
my @rounds = (
	[ 'zyzzyva-cluster stop of the whole cluster', sub {
			my ($rc, $out) = $c->tool('stop', $dir);
			is($rc, 0, 'zyzzyva-cluster stop: every sidecar and server');
			like($out, qr/^stopped $n replicas in /m, 'it stopped the four sidecars');
		} ],
	[ 'kill -9 of every sidecar, servers up', sub {
			my @pid = map { slurp_file("$dir/replica-$_.pid") =~ s/\s+//gr } 0 .. $n - 1;
			is(kill('KILL', @pid), $n, 'the four sidecars killed at once');
			# (the tool's pid files name dead processes: start replaces them)
			usleep(300_000);
		} ]);
my $r = 0;
for my $round (@rounds)
{
	my ($what, $stop) = @$round;
	$r++;
	my $from = log_sizes();
	my @runs = map { $c->pay_start($_, 200) } 1, 3;
	usleep(1_500_000);
	$stop->();
	# the clients' calls fail from here on: what completed before counts
	$c->pay_finish($_, 1) for @runs;
	my ($rc, $out) = $c->tool('start', $dir);
	is($rc, 0, "round $r ($what): zyzzyva-cluster start brings every replica back to normal mode")
	  or diag($out);
	my ($above, $summary) = resumed($from);
	diag("round $r: $summary");
	ok($above >= 1, "round $r: a sidecar took back batches above its stable checkpoint");
	my $all = 1;
	$all &&= $c->pay_finish($c->pay_start($_, 5)) for 0 .. $n - 1;
	ok($all, "round $r: new calls through every replica complete");
	$c->check_all("round $r", $total);
}

done_testing();
