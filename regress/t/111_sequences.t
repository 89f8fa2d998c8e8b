# Sequences on a live cluster: a table with a bigserial key and one with
# an identity column, written by a replicated function called through
# every replica.  A replicated sequence's state is replicated state, so the
# rows (keys included) are equal on every replica
#
#   1. after calls through all four replicas;
#   2. after a speculative batch that drew keys is rolled back on replica 1
#      by a view change and ordered again (PostgreSQL itself never rolls a
#      sequence back: without the extension's undo, replica 1 would draw
#      the next keys and differ);
#   3. after replica 2's server is killed (-9) and restarted (its
#      sequences jump 32 values ahead in the WAL replay);
#   4. after a state transfer to replica 3, whose sidecar was stopped while
#      the others ran past its log.
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
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $schema = q{
CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL);
CREATE TABLE parts (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_id bigint);
CREATE FUNCTION add(it text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    o bigint;
    p integer;
BEGIN
    INSERT INTO orders (item) VALUES (it) RETURNING id INTO o;
    INSERT INTO parts (order_id) VALUES (o) RETURNING id INTO p;
    RETURN o || ' ' || p;
END $$;
SELECT zyzzyva.replicate_table('orders');
SELECT zyzzyva.replicate_table('parts');
SELECT zyzzyva.replicate_function('add(text)');
};
my $sig = 'public.add(pg_catalog.text)';
my $zz = ZZPG->new(
	name => 'seq',
	# no retained log: a replica that lags fetches state (catch-up by replay
	# would replay the batches instead; docs/protocol.md section 7)
	settings => { checkpoint_interval => 4, retain_batches => 0, checkpoint_resend => '300ms', confirm_timeout => '2s' },
	sql => [ ZZPG::ledger_sql(), $schema ],
	fault_injection => 1);
my $n = $zz->n;
my @all = 0 .. $n - 1;

# The rows of both tables and the sequences' replicated state on replica i.
sub rows
{
	my ($i) = @_;
	return $zz->q1($i,
		q{SELECT concat_ws(' | ',
		    (SELECT string_agg(id || ':' || item, ',' ORDER BY id) FROM orders),
		    (SELECT string_agg(id || ':' || order_id, ',' ORDER BY id) FROM parts),
		    (SELECT string_agg(sequence_name || '=' || last_value || '/' || is_called, ','
		                       ORDER BY sequence_name) FROM zyzzyva.replicated_sequences))});
}

# Equal rows, digests and verified digests on replicas @$which.
sub check_equal
{
	my ($what, $which) = @_;
	my @rows = map { rows($_) } @$which;
	is(scalar(ZZPG::uniq(@rows)), 1, "$what: equal rows and keys on replicas @$which")
	  or diag(join("\n", @rows));
	is(scalar($zz->digests($which)), 1, "$what: equal state digests");
	is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } @$which),
		join(',', ('t') x @$which), "$what: each digest matches its rows");
}

# One call of add() through replica i's server, as an application would.
sub add
{
	my ($i, $item) = @_;
	return $zz->q1($i, "SELECT add('$item')");
}

# --- 1. calls through every replica ---
is(rows(0), 'orders_id_seq=1/false,parts_id_seq=1/false', 'both sequences are replicated with their tables');
my @got;
for my $round (1 .. 3)
{
	push @got, add($_, "r$_-$round") for @all;
}
is(join(',', map { (split / /)[0] } @got), join(',', 1 .. 12),
	'the callers receive keys 1..12 in call order, from whichever replica they call');
ok($zz->converged(\@all, 0), 'every replica applied the same batches');
check_equal('calls through all replicas', \@all);

# --- 2. a speculative batch rolled back by a view change (as in 102) ---
my $seq0 = $zz->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status');
my $next = $seq0 + 1;
ok(!grep({ !$zz->reconfigure($_, "test_withhold_order_req = 0 $next 1") } @all),
	"batch $next of view 0 will reach replica 1 only");
my $call = $zz->cli_start(2, '--verbose', '--call', $sig, 'speculative');
ok( $zz->wait_until(10, sub { $zz->q1(1, 'SELECT last_applied_seq FROM zyzzyva.status') > $seq0 }),
	'replica 1 applied the call speculatively');
is($zz->q1(1, q{SELECT id FROM orders WHERE item = 'speculative'}), '13',
	'... drawing key 13 in its database');
$zz->kill_daemon(0);
my ($rc, $out) = $zz->cli_finish($call);
is($rc, 0, 'the call completes after the primary\'s sidecar is killed') or diag($out);
like($out, qr/reply=13 13$/m, '... with the keys replica 1 had drawn before the rollback');
cmp_ok($zz->status(1)->{pg_rollbacks} // 0, '>=', 1, 'replica 1 rolled its database back');
ok($zz->converged([ 1 .. 3 ], 0), 'replicas 1-3 apply the same batches');
check_equal('after the rollback', [ 1 .. 3 ]);
is(add(1, 'after-rollback'), '14 14', 'the next call through replica 1 draws the next keys');
$zz->start_daemon(0);
ok($zz->wait_until(30, sub { $zz->ready(0) }), 'replica 0\'s sidecar restarts');
ok($zz->settle(1, 4), 'all four agree again');
check_equal('replica 0 back', \@all);

# --- 3. a server killed and restarted: its sequences jumped ahead in the WAL ---
add(2, 'before-crash');
# batches commit asynchronously (batch_commit = async): flush the WAL, the
# sequence's 32 values logged ahead with it, by one synchronous commit
$zz->node(2)->safe_psql('postgres',
	'SET synchronous_commit = on; CREATE TEMP TABLE flush_wal (x integer)');
$zz->node(2)->kill9;
$zz->start_server(2) or BAIL_OUT('server 2 does not start again');
ok($zz->wait_until(30, sub { $zz->ready(2) }), 'replica 2\'s server restarted, its sidecar reconnected');
my $jumped = $zz->q1(2, 'SELECT last_value FROM orders_id_seq');
my $replicated = $zz->q1(2, q{SELECT last_value FROM zyzzyva.replicated_sequences WHERE sequence_name = 'orders_id_seq'});
cmp_ok($jumped, '>', $replicated, "the crash moved replica 2's sequence ahead ($jumped > $replicated)");
my @after = map { add($_, "after-crash-$_") } @all;
ok($zz->settle(1, 4), 'all four agree');
check_equal('after the crash', \@all);

# --- 4. state transfer to a stopped replica ---
my $before = $zz->status(3)->{transfers_installed} // 0;
my $seq3 = $zz->q1(3, 'SELECT last_applied_seq FROM zyzzyva.status');
ok($zz->signal_daemon(3, 'STOP'), "replica 3's sidecar stopped at batch $seq3");
add($_ % 3, "while-3-stopped-$_") for 1 .. 12;
ok($zz->pay(1, 20), 'more calls without replica 3');
my $stable = $zz->q1(1, 'SELECT stable_seq FROM zyzzyva.status');
cmp_ok($stable, '>', $seq3 + 8, "the others' stable checkpoint ($stable) is past replica 3's log");
ok($zz->signal_daemon(3, 'CONT'), 'replica 3 resumed');
ok( $zz->wait_until(
		40,
		sub {
			add(1, 'nudge');
			return ($zz->status(3)->{transfers_installed} // 0) > $before;
		}),
	'replica 3 installed a checkpoint by state transfer');
ok($zz->settle(1, 4), 'all four agree');
add(3, 'through-3');
ok($zz->converged(\@all, 0), 'a call through replica 3 after the transfer');
check_equal('after the state transfer', \@all);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for @all;
$zz->node($_)->stop for @all;
done_testing();
