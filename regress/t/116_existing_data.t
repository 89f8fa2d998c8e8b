# Existing data under replication (docs/operations.md, extension/adopt.c).
#
# An application's database with rows (several types, NULLs, quotes, a
# foreign key, privileges, a table that stays local) exists on replica 0
# before any sidecar has applied a batch.  The documented path:
#   1. on replica 0, zyzzyva.adopt(tables, functions) registers the tables,
#      with their rows, and the functions, locally: no DDL proposals;
#   2. pg_dump of that database and pg_restore into replicas 1, 2 and 3,
#      whose databases are empty but for the extension, dropped first
#      (the dump carries the registry: pg_extension_config_dump); the
#      restore's own statements on replicated tables (primary keys,
#      triggers, grants) pass because the registry came from outside the
#      extension (zyzzyva.adoption.pending);
#   3. zyzzyva.adopt() on each restored database recomputes its digest
#      from its rows: before, it differs from replica 0's; after, it is
#      equal, and protection of replicated objects is back;
#   4. the sidecars start; calls of the adopted function through every
#      replica complete, and the first stable checkpoint certifies the
#      digest: every replica's stable digest is the same, equal to its
#      state digest, which matches its rows.
# And adopt() refuses a database that has applied batches (55000).
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
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'adopt',
	settings => { checkpoint_interval => 4 },
	sql => [ 'CREATE ROLE shop_reader NOLOGIN' ]);
my $n = $zz->n;
# The sidecars have applied nothing; the existing data comes in before
# their first batch.
is($zz->stop_daemon($_), 0, "sidecar $_ stopped before its first batch") for 0 .. $n - 1;

my $app = q{
CREATE TABLE items (
    id    bigint PRIMARY KEY,
    name  text NOT NULL,
    price numeric(10,2),
    tags  jsonb,
    photo bytea,
    added timestamptz
);
INSERT INTO items
SELECT g, 'item ''' || g || E'''\t"x"', g * 1.25, CASE WHEN g % 3 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'odd', g % 2 = 1) END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 3000) AS g;
CREATE TABLE orders (
    id   bigint PRIMARY KEY,
    item bigint NOT NULL REFERENCES items,
    qty  integer NOT NULL CHECK (qty > 0)
);
INSERT INTO orders SELECT g, 1 + (g * 7) % 3000, 1 + g % 9 FROM generate_series(1, 2000) AS g;
CREATE INDEX orders_item ON orders (item);
CREATE TABLE local_notes (id serial PRIMARY KEY, note text);
INSERT INTO local_notes (note) VALUES ('stays local');
GRANT SELECT ON items, orders TO shop_reader;
CREATE FUNCTION place_order(oid_ bigint, item_ bigint, qty_ integer) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO orders VALUES (oid_, item_, qty_);
    RETURN (SELECT count(*) FROM orders);
END
$$;
};
my $n0 = $zz->node(0);
$n0->safe_psql('postgres', $app);

# 1. adopt on replica 0
my $adopted = $n0->safe_psql('postgres',
	q{SELECT kind || ' ' || identity || ' ' || coalesce(rows::text, '-')
	    FROM zyzzyva.adopt(ARRAY['items', 'orders']::regclass[],
	                       ARRAY['place_order(bigint,bigint,integer)']::regprocedure[])
	   ORDER BY 1});
is($adopted, "function public.place_order(bigint,bigint,integer) -\ntable public.items 3000\ntable public.orders 2000",
	'adopt on replica 0: two tables with their rows, one function');
is($n0->safe_psql('postgres', 'SELECT zyzzyva.verify_digest()'), 't', 'replica 0: its digest matches its rows');
my $digest0 = $n0->safe_psql('postgres', q{SELECT encode(zyzzyva.state_digest(), 'hex')});

# 2. dump and restore into the others
my $dump = PostgreSQL::Test::Utils::tempdir() . '/shop.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $n0->connstr('postgres') ], 'pg_dump of replica 0');
for my $i (1 .. $n - 1)
{
	my $node = $zz->node($i);
	# pg_restore expects an empty database: this one holds only the
	# extension, which the dump creates again
	$node->safe_psql('postgres', 'DROP EXTENSION zyzzyva; DROP SCHEMA IF EXISTS zyzzyva');
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('postgres'), $dump ],
		'>', \$out, '2>', \$err);
	ok($ok, "pg_restore into replica $i") or diag($err);
	is($node->safe_psql('postgres', 'SELECT pending FROM zyzzyva.adoption'), 't',
		"replica $i: the restored registry waits for adopt()");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM zyzzyva.replicated_functions'), '1',
		"replica $i: the dump kept the replicated function");
	isnt($node->safe_psql('postgres', q{SELECT encode(zyzzyva.state_digest(), 'hex')}), $digest0,
		"replica $i: before adopt() its digest does not cover its rows");

	# 3. adopt the restored registry
	my $rows = $node->safe_psql('postgres',
		q{SELECT string_agg(identity || '=' || rows, ' ' ORDER BY identity) FROM zyzzyva.adopt() WHERE kind = 'digest'});
	is($rows, 'public.items=3000 public.orders=2000 zyzzyva.ddl_proposal=0 zyzzyva.sequence_state=0',
		"replica $i: adopt() digested every replicated table");
	is($node->safe_psql('postgres', q{SELECT encode(zyzzyva.state_digest(), 'hex')}), $digest0,
		"replica $i: after adopt() its digest equals replica 0's");
	my ($rc, undef, $stderr) = $node->psql('postgres', 'ALTER TABLE items ADD COLUMN x integer');
	like($stderr, qr/not allowed outside replication/, "replica $i: replicated tables are protected again");
}

# 4. the sidecars start; calls through every replica; the first checkpoints
$zz->start_daemon($_) for 0 .. $n - 1;
ok($zz->wait_until(30, sub { !grep { !$zz->ready($_) } 0 .. $n - 1 }), 'the sidecars are up');
my $id = 100000;
for my $round (1 .. 3)
{
	for my $i (0 .. $n - 1)
	{
		$id++;
		my ($rc, $out, $err) = $zz->call_verbose($i, "SELECT place_order($id, " . (1 + $id % 3000) . ', 2)');
		is($rc, 0, "round $round: place_order through replica $i") or diag($err);
	}
}
ok($zz->converged([ 0 .. $n - 1 ], 1), 'the replicas applied the same batches and marked a stable checkpoint');
my @stable = map {
	$zz->q1($_, q{SELECT stable_seq || ' ' || encode(stable_digest, 'hex') FROM zyzzyva.status})
} 0 .. $n - 1;
is(scalar(ZZPG::uniq(@stable)), 1, "the stable checkpoint and its certified digest are the same everywhere: $stable[0]");
is(scalar($zz->digests([ 0 .. $n - 1 ])), 1, 'equal state digests');
is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } 0 .. $n - 1), 't,t,t,t',
	'each digest matches its rows');
is(join(',', map { $zz->q1($_, 'SELECT count(*) FROM orders') } 0 .. $n - 1), '2012,2012,2012,2012',
	'every replica holds the adopted rows and the new ones');
is($zz->q1(3, 'SELECT count(*) FROM local_notes'), '1', 'the local table came along, unreplicated');

# adopt() after the first batch: refused
my ($rc, undef, $err) = $zz->call_verbose(2, 'SELECT * FROM zyzzyva.adopt(ARRAY[\'local_notes\']::regclass[])');
like($err, qr/55000.*cannot adopt objects: this database has applied batches/s,
	'adopt() refuses a database that has applied batches');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for 0 .. $n - 1;
$zz->node($_)->stop for 0 .. $n - 1;
done_testing();
