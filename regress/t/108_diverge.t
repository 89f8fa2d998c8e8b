# Nondeterminism (issue 12, item 2): what the guard knows is refused with
# a clear error (the 'now' literal, current_setting('port')); a text that
# spells 'now' cast at run time reads the batch's clock, the same on every
# replica; what slips past the guard (here an "immutable" alias of
# clock_timestamp that the operator wrongly named in
# zyzzyva.allowed_functions) makes the replicas' states differ.  Then no
# checkpoint certificate can form: every replica says so in its log, with
# the differing digests and the batches it narrows down to, its condition
# is diverged, and the replicas do not sweep through views: a clear,
# bounded halt instead of endless view changes.  The operator tool
# (sidecar/tools/zyzzyva-diverge) then names the batch and the row that
# differ, and shows a role without SELECT on the table only that it does.
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
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'diverge',
	settings => { checkpoint_interval => 4, checkpoint_resend => '300ms', confirm_timeout => '1s' },
	pg_conf => "zyzzyva.allowed_functions = 'public.sneaky_clock()'\n",
	sql => [
		ZZPG::ledger_sql(), q{
CREATE TABLE stamps (id integer PRIMARY KEY, at text NOT NULL);
SELECT zyzzyva.replicate_table('stamps');
CREATE FUNCTION stamp_literal(i integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stamps VALUES (i, 'now'::timestamptz::text);
    RETURN 'stamped';
END $$;
CREATE FUNCTION show_port() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('port') $$;
CREATE FUNCTION stamp_runtime(i integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w text := 'n' || 'ow';
    t timestamptz;
BEGIN
    t := w::timestamptz;
    INSERT INTO stamps VALUES (i, t::text);
    RETURN 'stamped';
END $$;
CREATE FUNCTION sneaky_clock() RETURNS timestamptz LANGUAGE internal IMMUTABLE AS 'clock_timestamp';
CREATE FUNCTION stamp_slip(i integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stamps VALUES (i, sneaky_clock()::text);
    RETURN 'stamped';
END $$;
SELECT zyzzyva.replicate_function('stamp_literal(integer)');
SELECT zyzzyva.replicate_function('show_port()');
SELECT zyzzyva.replicate_function('stamp_runtime(integer)');
SELECT zyzzyva.replicate_function('stamp_slip(integer)');
CREATE ROLE inspector LOGIN IN ROLE zyzzyva_monitor;
}
	]);
my $n = $zz->n;
ok($zz->pay(1, 6), 'calls complete before');

sub call { return $zz->call_verbose(0, $_[0]); }

# what the guard knows is refused, the same on every replica
my ($rc, $out, $err) = call('SELECT stamp_literal(1)');
isnt($rc, 0, "the 'now' literal is refused");
like($err, qr/0A000: the input 'now' for type timestamp with time zone is not allowed in replicated execution/,
	'... with a clear error');
($rc, $out, $err) = call('SELECT show_port()');
isnt($rc, 0, "current_setting('port'), a reply that would differ, is refused");
like($err, qr/0A000: function current_setting\(\) is not allowed in replicated execution/, '... clearly');
# 'now' spelt at run time is the batch's time on every replica
($rc, $out, $err) = call('SELECT stamp_runtime(1)');
is($rc, 0, "a run-time cast of 'now' completes") or diag($err);
ok( $zz->wait_until(
		20, sub { !grep { ($zz->q1($_, 'SELECT count(*) FROM stamps WHERE id = 1') // 0) != 1 } 0 .. $n - 1 }),
	'... and is applied everywhere');
is(scalar(ZZPG::uniq(map { $zz->q1($_, 'SELECT at FROM stamps WHERE id = 1') } 0 .. $n - 1)),
	1, '... with the same value on every replica');
ok($zz->settle(1, 4), 'all four agree at a stable checkpoint');

# the operator tool: nothing differs yet
my @conninfo = map { my $nd = $zz->node($_); "host=${\ $nd->host} port=${\ $nd->port} dbname=postgres" } 0 .. $n - 1;
sub diverge_tool
{
	my ($user) = @_;
	my ($stdout, $stderr);
	my @ci = map { $user ? "$_ user=$user" : $_ } @conninfo;
	IPC::Run::run([ "$ENV{ZZ_TOOLS}/zyzzyva-diverge", @ci ], '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout(60));
	return ($? >> 8, $stdout, $stderr);
}
my ($trc, $tout, $terr) = diverge_tool();
is($trc, 0, 'zyzzyva-diverge: the replicas agree (exit 0)') or diag($tout, $terr);
like($tout, qr/no batch since the stable checkpoints differs.*tables whose rows differ now: none/s,
	'... and says so');
is(join(',', map { $zz->q1($_, 'SELECT condition FROM zyzzyva.status') } 0 .. $n - 1),
	join(',', ('normal') x $n), 'every replica is normal');
my $view0 = $zz->status(0)->{view};

# what slips past it: the call succeeds (same reply), the states differ
($rc, $out, $err) = call('SELECT stamp_slip(2)');
is($rc, 0, 'a call that slips past the guard completes') or diag($err);
isnt($zz->q1(0, 'SELECT at FROM stamps WHERE id = 2'), $zz->q1(1, 'SELECT at FROM stamps WHERE id = 2'),
	'... and stored a different value on two replicas');
my $t0 = time();
my $load = $zz->pay_start(1, $zz->take_ids(12), 12);
my $said = $zz->wait_until(
	60,
	sub {
		!grep { $zz->daemon_log($_) !~ /DIVERGED: checkpoint \d+ can never become stable/ } 0 .. $n - 1;
	});
ok($said, sprintf('every replica says no checkpoint can become stable (%.1f s)', time() - $t0));
like($zz->daemon_log(2),
	qr/DIVERGED: checkpoint \d+ can never become stable: the replicas executed the same batches to different states \(R0 state [0-9a-f]{8} history [0-9a-f]{8}, R1 state/,
	'... with the differing digests');
like($zz->daemon_log(2), qr/the first differing batch is after stable checkpoint \d+, at or before \d+/,
	'... and the batches it narrows down to');
my @cond;
ok( $zz->wait_until(
		20,
		sub {
			@cond = map { $zz->q1($_, q{SELECT condition || ': ' || coalesce(condition_detail, '') FROM zyzzyva.status}) }
			  0 .. $n - 1;
			!grep { !/^diverged: checkpoint \d+ can never become stable/ } @cond;
		}),
	'every replica\'s condition is diverged') or diag(join("\n", @cond));
my ($lrc) = $zz->pay_finish($load);

# the operator tool names the batch and the row; the batch is found here
# from replica 0's undo log (the change that inserted stamps row 2)
my $slip_seq = $zz->q1(0, q{SELECT seq FROM zyzzyva.undo_log
                             WHERE rel = 'stamps'::regclass AND new_row LIKE '(2,%'});
ok($slip_seq, "the slipped call's batch is $slip_seq");
($trc, $tout, $terr) = diverge_tool();
is($trc, 1, 'zyzzyva-diverge: the replicas differ (exit 1)') or diag($terr);
note($tout);
like($tout, qr/^first differing batch: $slip_seq \(the same batch/m, '... names the first differing batch')
  or diag($tout);
like($tout, qr/^    public\.stamps id=2 \(request \d+\): R[\dR,]+ inserted \w{8}; R[\dR,]+ inserted \w{8}/m,
	'... and the row of that batch, with each replica\'s after-image hash');
like($tout, qr/^  public\.stamps: R\d.* digest \w{8} \(\d+ rows\)/m, '... and the table whose rows differ now');
like($tout, qr/^    public\.stamps id=2: R\d row \w{8}; R\d row \w{8}/m, '... and its row');
unlike($tout, qr/public\.ledger id=/, '... and no row that agrees');
# a monitoring role without SELECT on the table learns only that it differs
($trc, $tout, $terr) = diverge_tool('inspector');
is($trc, 1, 'zyzzyva-diverge as a role that may not read stamps: they differ') or diag($terr);
like($tout, qr/^first differing batch: $slip_seq /m, '... in that batch');
like($tout, qr/public\.stamps: changes not shown \(no SELECT on it\)/, '... in stamps');
unlike($tout, qr/stamps id=/, '... but not which row');
like($terr, qr/permission denied for table stamps/, '... row_hashes() refuses it');

# and no sweep of views: calls fail with a clear error, the view stays
my $r = $zz->cli_start(1, '--call', 'public.stamp_slip(integer)', '3');
my ($crc, $cout) = $zz->cli_finish($r);
isnt($crc, 0, 'a call now fails') or diag($cout);
sleep(8);
is($zz->status($_)->{view}, $view0, "replica $_ did not change views") for 0 .. $n - 1;
unlike($zz->daemon_log(0), qr/view: view change from view/, 'no view change in the log');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
