# Chunked state transfer (docs/transfer.md): a replica stopped while the
# others apply rows enough for hundreds of chunks (transfer_chunk is set
# to 2 KiB here) and schema changes through zyzzyva.replicated_ddl, then
# started again, catches up by a transfer that streams the checkpoint's
# rows in chunks, each checked against the manifest, after running the
# schema history it missed.
#
#   1. the transfer: replica 3 installs in chunks (not in one snapshot),
#      the serving replica completes calls meanwhile, zyzzyva.status shows
#      the progress, and at the end every replica has the same rows,
#      schema and state digest;
#   2. a flood of STATE-REQUESTs from one replica (a probe with replica
#      0's key) against replica 2: it starts one transfer for it, drops
#      the rest with a log line, and keeps answering calls.
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
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'chunk',
	settings => { checkpoint_interval => 4, checkpoint_resend => '300ms', transfer_chunk => 2048 },
	sql => [
		ZZPG::ledger_sql() . q{
CREATE TABLE bulk (id integer PRIMARY KEY, pad text NOT NULL);
CREATE FUNCTION fill(first integer, cnt integer) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO bulk SELECT g, repeat(md5(g::text), 4) FROM generate_series(first, first + cnt - 1) AS g;
    SELECT cnt $$;
SELECT zyzzyva.replicate_table('bulk');
SELECT zyzzyva.replicate_function('fill(integer,integer)');
}
	]);
my $n = $zz->n;
my @all = 0 .. $n - 1;
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');

ok($zz->settle(1, 8), 'all four agree at a stable checkpoint');
my $mode = $zz->status(0)->{pg_transfer_mode} // '?';
is($mode, 'chunked', 'the sidecars transfer state in chunks (the database has 0.2)');

# --- 1. replica 3 away while rows and schema change ---
is($zz->stop_daemon(3), 0, 'replica 3 stopped');
for my $k (0 .. 7)
{
	my ($rc, $out) = $zz->cli(1, '--call', 'public.fill(integer,integer)', (1 + 1000 * $k) . ' 1000');
	is($rc, 0, "1000 rows into bulk (" . ($k + 1) . " of 8)") or diag($out);
}
sub migrate
{
	my ($what, $sql) = @_;
	$zz->node(1)->safe_psql('postgres', "SELECT zyzzyva.replicated_ddl(\$mig\$$sql\$mig\$)");
	my ($rc, $out, $err) =
	  $zz->node(2)->psql('postgres', "SELECT zyzzyva.replicated_ddl(\$mig\$$sql\$mig\$)");
	is($err, '', "schema change while replica 3 is away: $what");
}
migrate('a column with a default', q{ALTER TABLE bulk ADD COLUMN note text NOT NULL DEFAULT 'n'});
migrate('a new replicated table', q{
CREATE TABLE tags (id integer PRIMARY KEY, tag text);
SELECT zyzzyva.replicate_table('tags');
INSERT INTO tags VALUES (1, 'one'), (2, 'two');
});
ok($zz->pay(1, 30) && $zz->pay(2, 20), 'calls complete without replica 3');
my $bytes = $zz->q1(1, q{SELECT sum(octet_length(b::text)) FROM bulk b});
cmp_ok($bytes, '>', 500 * 2048, "the rows ($bytes bytes) need hundreds of 2 KiB chunks");

# back: it resumes at its stable checkpoint, far below the others' log
$zz->start_daemon(3);
my $calls = $zz->pay_start(0, $zz->take_ids(40), 40);
my $seen_progress = 0;
my $installed = $zz->wait_until(
	90,
	sub {
		my $p = $zz->q1(3, q{SELECT coalesce(transfer_state, '-') || ' ' || coalesce(transfer_chunks_done, 0)
			|| ' ' || coalesce(transfer_chunks_total, 0) FROM zyzzyva.status});
		my ($state, $done, $of) = split / /, $p;
		$seen_progress = 1 if $state eq 'running' && $done > 0 && $done < $of;
		return ($zz->status(3)->{pg_transfer_installs} // 0) > 0;
	});
ok($installed, 'replica 3 installed a checkpoint in chunks');
my ($rc, $ids, $out) = $zz->pay_finish($calls);
is($rc, 0, 'the serving replicas completed calls during the transfer') or diag($out);
$zz->add_completed(@$ids);
my $st3 = $zz->status(3);
cmp_ok($st3->{pg_transfer_chunks_installed} // 0, '>', 100,
	'... ' . ($st3->{pg_transfer_chunks_installed} // 0) . ' chunks installed');
is($st3->{pg_installs} // 0, $st3->{pg_transfer_installs} // 0, '... and no single snapshot');
my $served = 0;
$served += $zz->status($_)->{pg_transfer_served} // 0 for 0 .. 2;
cmp_ok($served, '>=', 1, 'a peer served the transfer in chunks');
my $prog = $zz->q1(3, q{SELECT transfer_role || ' ' || transfer_state || ' '
	|| (transfer_chunks_done = transfer_chunks_total) || ' ' || (transfer_rows_done = transfer_rows_total)
	|| ' ' || (transfer_rows_total > 8000) FROM zyzzyva.status});
is($prog, 'installing done true true true', "zyzzyva.status shows the finished transfer ($prog)");
note("progress seen while running: $seen_progress");
like($zz->daemon_log(3), qr/installed the state of checkpoint \d+/, 'the log says so');

ok($zz->settle(1, 8), 'replica 3 replays what follows the checkpoint and agrees');
$zz->check_ledgers('after the transfer', $total);
is(scalar(ZZPG::uniq(map { $zz->q1($_, q{SELECT count(*) || ' ' || count(DISTINCT note) || ' '
	|| (SELECT string_agg(tag, ',' ORDER BY id) FROM tags) FROM bulk}) } @all)), 1,
	'the same rows and schema everywhere (the column and table added while away)');

# --- 2. a flood of STATE-REQUESTs ---
is($zz->stop_daemon(0), 0, 'replica 0 (now faulty) stopped');
my $started = $zz->status(2)->{pg_transfer_serves_started} // 0;
my $t0 = time();
ok($zz->pay(1, 20), '20 calls without the flood');
my $base = time() - $t0;
my ($pout, $perr) = ('', '');
my $probe = IPC::Run::start(
	[
		"$ZZPG::build/zyzzyva-probe", '--as', $zz->{conf}[0], '--to', 2, '--hello',
		'--state-requests', 400, '--expect', 'open', '--wait', 10
	],
	'>', \$pout, '2>', \$perr, IPC::Run::timeout(60));
usleep(500_000);
$t0 = time();
ok($zz->pay(1, 20), '20 calls during the flood');
my $during = time() - $t0;
cmp_ok($during, '<', 3 * $base + 3,
	sprintf('... in %.2f s (%.2f s without the flood)', $during, $base));
eval { $probe->finish; 1 } or $probe->kill_kill;
my $st = $zz->status(2);
cmp_ok($st->{pg_transfer_requests_dropped} // 0, '>=', 100,
	'replica 2 dropped the flood: ' . ($st->{pg_transfer_requests_dropped} // '?') . ' STATE-REQUESTs')
  or diag("$pout$perr");
my $flood_serves = ($st->{pg_transfer_serves_started} // 0) - $started;
cmp_ok($flood_serves, '<=', 1, "... after starting at most one transfer for it ($flood_serves)");
like($zz->daemon_log(2), qr/STATE-REQUEST from replica 0 dropped: its transfer/, '... and logged it');

$zz->start_daemon(0);
ok($zz->wait_until(30, sub { $zz->ready(0) }), 'replica 0 back');
ok($zz->settle(1, 4), 'all four agree again');
$zz->check_ledgers('after the flood', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for @all;
$zz->node($_)->stop for @all;
done_testing();
