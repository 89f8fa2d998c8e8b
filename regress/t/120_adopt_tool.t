# The operator's tool adopts existing data (docs/operations.md):
# sidecar/tools/zyzzyva-cluster adopt DIR DUMP --table ... --function ...
# restores a pg_dump of an existing database into every replica's
# database and runs zyzzyva.adopt() there, then checks the four state
# digests agree.
#
# A cluster of four PostgreSQL servers made by the tool (init --postgres,
# then adopt DIR: servers started, databases ready, no sidecar), and an
# existing database with rows (NULLs, quotes, bytea, a foreign key) on
# replica 0's server, dumped with pg_dump -Fc:
#   - adopt exits 0, reports each table's rows on each replica and one
#     state digest, equal on the four replicas, which matches their rows;
#   - the sidecars start; calls of the adopted function through every
#     replica complete; the first stable checkpoint certifies one digest,
#     the same everywhere and equal to each replica's state digest;
#   - adopt is refused while the sidecars run, and, once they are stopped,
#     because the replicas have applied batches: both before any database
#     is touched (the rows are still there).
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
use ZZTool;

my $dir = PostgreSQL::Test::Utils::tempdir_short() . '/c';
my $n = 4;
my $c = ZZTool->new(dir => $dir, n => $n);
sub tool { return $c->tool(@_); }
sub port { return $c->port(@_); }
sub psql { return $c->psql(@_); }
sub q1 { return $c->q1(@_); }

sub uniq
{
	my %u = map { $_ => 1 } @_;
	my @s = sort keys %u;
	return wantarray ? @s : scalar(@s);
}

# --- four servers, no sidecar yet ---
my ($rc, $out) = tool('init', $dir, '--postgres', '--set', 'checkpoint_interval=4', '--entrust', 'postgres');
is($rc, 0, 'zyzzyva-cluster init --postgres') or BAIL_OUT($out);
($rc, $out) = tool('adopt', $dir);
is($rc, 0, 'adopt DIR without a dump: the servers run, their databases are ready') or BAIL_OUT($out);

# --- the existing database, on replica 0's server ---
q1(0, 'CREATE DATABASE shop', 'postgres');
q1(0, q{
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2), photo bytea);
INSERT INTO items
SELECT g, 'item ''' || g || E'''\t"x"', CASE WHEN g % 4 = 0 THEN NULL ELSE g * 1.25 END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
  FROM generate_series(1, 500) AS g;
CREATE TABLE orders (id bigint PRIMARY KEY, item bigint NOT NULL REFERENCES items, qty integer NOT NULL);
INSERT INTO orders SELECT g, 1 + (g * 7) % 500, 1 + g % 9 FROM generate_series(1, 300) AS g;
CREATE FUNCTION place_order(oid_ bigint, item_ bigint, qty_ integer) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO orders VALUES (oid_, item_, qty_); SELECT count(*) FROM orders $$;
}, 'shop');
my $dump = "$dir/shop.dump";
{
	my ($o, $e) = ('', '');
	my $ok = IPC::Run::run([ 'pg_dump', '-Fc', '-f', $dump, '-h', "$dir/run", '-p', port(0), 'shop' ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(60));
	ok($ok, 'pg_dump -Fc of the existing database') or diag($e);
}
my @adopt = ('--table', 'items', '--table', 'orders', '--function', 'place_order(bigint,bigint,integer)');

# --- adopt ---
($rc, $out) = tool('adopt', $dir, $dump, @adopt);
is($rc, 0, 'adopt DIR DUMP exits 0') or diag($out);
is(scalar(() = $out =~ /^replica \d: restored in [\d.]+ s$/mg), $n, 'the dump restored on each replica');
is(scalar(() = $out =~ /^replica \d: table public\.items: 500 rows, /mg), $n, 'items digested with its 500 rows on each replica');
is(scalar(() = $out =~ /^replica \d: table public\.orders: 300 rows, /mg), $n, 'orders digested with its 300 rows on each replica');
like($out, qr/^adopted on $n replicas; state digest [0-9a-f]{64}; /m, 'one state digest on the four replicas');
my ($adopted) = $out =~ /state digest ([0-9a-f]{64})/;
$adopted //= '';
is(join(',', map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1),
	join(',', ($adopted) x $n), 'each replica reports the digest the tool printed');
is(join(',', map { q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1), 't,t,t,t', 'each digest matches its rows');

# --- the sidecars; calls; the first stable checkpoint certifies it ---
($rc, $out) = tool('start', $dir);
is($rc, 0, 'zyzzyva-cluster start: the sidecars') or BAIL_OUT($out);
my $id = 1000;
my $certified = '';
my $deadline = time() + 120;
while ($certified eq '' && time() < $deadline)
{
	for my $i (0 .. $n - 1)
	{
		$id++;
		my ($r, undef, $err) = psql($i, "SELECT place_order($id, " . (1 + $id % 500) . ', 2)');
		diag("place_order through replica $i: $err") if $r != 0;
	}
	my @stable = uniq(map { q1($_, q{SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), '-') FROM zyzzyva.status}) } 0 .. $n - 1);
	$certified = $stable[0] if @stable == 1 && $stable[0] !~ /^0 /;
}
isnt($certified, '', "a stable checkpoint, the same on the four replicas: $certified");

# the replicas settle on the same last batch (no more calls)
my $settled = 0;
$deadline = time() + 60;
while (!$settled && time() < $deadline)
{
	$settled = uniq(map { q1($_, 'SELECT last_applied_seq FROM zyzzyva.status') } 0 .. $n - 1) == 1;
	usleep(200_000) unless $settled;
}
ok($settled, 'the four replicas applied the same batches');
is(scalar(uniq(map { q1($_, "SELECT encode(zyzzyva.state_digest(), 'hex')") } 0 .. $n - 1)), 1, 'equal state digests');
is(join(',', map { q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1), 't,t,t,t', 'each digest matches its rows');
my $orders = q1(0, 'SELECT count(*) FROM orders');
cmp_ok($orders, '>', 300, "calls added orders to the adopted ones ($orders)");

# after the last call, once the checkpoints that were under way settle:
# one stable checkpoint and one certified digest on the four replicas
my @stable;
$deadline = time() + 60;
do
{
	@stable = uniq(map { q1($_, q{SELECT stable_seq || ' ' || coalesce(encode(stable_digest, 'hex'), '-') FROM zyzzyva.status}) } 0 .. $n - 1);
	usleep(200_000) if @stable != 1;
} while (@stable != 1 && time() < $deadline);
is(scalar(@stable), 1, "the four replicas hold the same certified checkpoint: @stable");

# --- refusals ---
($rc, $out) = tool('adopt', $dir, $dump, @adopt);
isnt($rc, 0, 'adopt while the sidecars run is refused');
like($out, qr/sidecar runs: adopt works before a replica's first batch/, '... saying the sidecar runs');
($rc, $out) = tool('stop', $dir);
is($rc, 0, 'zyzzyva-cluster stop');
($rc, $out) = tool('adopt', $dir, $dump, @adopt);
isnt($rc, 0, 'adopt into replicas that have applied batches is refused');
like($out, qr/the database of replica 0 has applied \d+ batches: adopt only into databases that have not/,
	'... saying replica 0 has applied batches');
# (it stopped at replica 0, whose server it started, before dropping it)
is(q1(0, 'SELECT count(*) FROM orders'), $orders, 'the refused adopt kept the database of replica 0');

done_testing();
