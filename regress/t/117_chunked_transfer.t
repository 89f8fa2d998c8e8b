# Chunked state transfer (docs/transfer.md): a replica stopped while the
# others apply rows enough for hundreds of chunks (transfer_chunk is set
# to 2 KiB here) and schema changes through zyzzyva.replicated_ddl, then
# started again, catches up by a transfer that streams the checkpoint's
# rows in chunks, each checked against the manifest, after running the
# schema history it missed.
#
# replica 3 installs in chunks (not in one snapshot), the serving
# replicas complete calls meanwhile, zyzzyva.status shows the progress,
# and at the end every replica has the same rows, schema and state
# digest.  (A flood of STATE-REQUESTs against the chunked path:
# 108_stateflood.t.)
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

my $zz = ZZPG->new(
	name => 'chunk',
	# no retained log: a replica that lags fetches state (catch-up by replay
	# would replay the batches instead; docs/protocol.md section 7)
	settings => { checkpoint_interval => 4, retain_batches => 0, checkpoint_resend => '300ms', transfer_chunk => 2048 },
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

# --- replica 3 away while rows and schema change ---
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

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for @all;
$zz->node($_)->stop for @all;
done_testing();
