# The extension's upgrade from 0.1, and pg_dump / pg_restore of a
# replicated database (docs/operations.md).
#
# (a) Four replicas created with CREATE EXTENSION zyzzyva VERSION '0.1'
#     replicate calls; then each in turn (the way zyzzyva-cluster upgrade
#     does it) stops its sidecar, runs ALTER EXTENSION zyzzyva UPDATE and
#     starts the sidecar again, while clients keep calling through two
#     other replicas: every call completes, every replica ends at 0.2 with
#     the registry marked for pg_dump, and the replicas agree (every
#     completed call exactly once, equal digests matching their rows).
# (b) pg_dump of replica 3's database and pg_restore into a new database
#     keep the registry: the replicated functions are registered and the
#     tables replicated; after zyzzyva.adopt() the restored database has
#     the state digest the original had.  Put in place of the original
#     (renamed), it is a fresh replica at batch 0: its sidecar starts, the
#     others bring it up to date, calls made in it route through the
#     replicas and complete, and all four agree again.
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
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $zz = ZZPG->new(
	name => 'upgrade',
	ext_version => '0.1',
	settings => { checkpoint_interval => 8 },
	sql => [ ZZPG::ledger_sql() ]);
my $n = $zz->n;
my @all = (0 .. $n - 1);
my $total = $zz->q1(0, 'SELECT sum(balance) FROM accounts');
my $version = q{SELECT extversion FROM pg_extension WHERE extname = 'zyzzyva'};
my $config = q{SELECT coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
                                  FROM pg_extension e, unnest(e.extconfig) AS c
                                 WHERE e.extname = 'zyzzyva'), 'none')};

is(join(',', map { $zz->q1($_, $version) } @all), '0.1,0.1,0.1,0.1', 'every replica runs version 0.1');
is($zz->q1(0, $config), 'none', 'version 0.1 marks nothing for pg_dump');
ok($zz->pay($_, 10), "calls through replica $_ complete on 0.1") for @all;
ok($zz->settle(0, 8), 'the replicas agree on 0.1');

# --- (a) one replica at a time, under load ---
for my $i (@all)
{
	my @load = (($i + 1) % $n, ($i + 2) % $n);
	my @runs = map { $zz->pay_start($_, $zz->take_ids(15), 15) } @load;
	usleep(200_000);
	is($zz->stop_daemon($i), 0, "replica $i: sidecar stopped");
	$zz->node($i)->safe_psql('postgres', 'ALTER EXTENSION zyzzyva UPDATE');
	is($zz->q1($i, $version), '0.2', "replica $i: ALTER EXTENSION zyzzyva UPDATE gives 0.2");
	$zz->start_daemon($i);
	# (a resumed replica learns what it lacks from the next batch: once the
	# clients are done, a call now and then supplies one)
	my $polls = 0;
	ok($zz->wait_until(60, sub {
				my $st = $zz->status($i);
				return 1 if $zz->ready($i) && ($st->{pg_condition} // '') eq 'normal'
				  && ($st->{mode} // '') eq 'normal';
				$zz->pay(($i + 3) % $n, 1) if ++$polls % 20 == 0;
				return 0;
			}), "replica $i: its sidecar is back in normal mode");
	my $ok = 1;
	for my $r (@runs)
	{
		my ($rc, $ids, $out) = $zz->pay_finish($r);
		$zz->add_completed(@$ids);
		$ok &&= $rc == 0;
		diag($out) if $rc != 0;
	}
	ok($ok, "replica $i updated: every call through replicas @load completed");
}
is(join(',', map { $zz->q1($_, $version) } @all), '0.2,0.2,0.2,0.2', 'every replica runs version 0.2');
is($zz->q1(0, $config), 'zyzzyva.function_registry,zyzzyva.table_registry',
	'version 0.2 marks the registry for pg_dump');
ok($zz->pay($_, 5), "calls through replica $_ complete on 0.2") for @all;
ok($zz->settle(1, 8), 'the replicas agree after the update');
$zz->check_ledgers('after the update', $total);

# --- (b) dump and restore ---
ok($zz->converged(\@all, 1), 'at rest');
is($zz->stop_daemon(3), 0, 'replica 3: sidecar stopped');
my $n3 = $zz->node(3);
my $digest3 = $zz->q1(3, q{SELECT encode(zyzzyva.state_digest(), 'hex')});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/replica3.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $n3->connstr('postgres') ], 'pg_dump of replica 3');
$n3->safe_psql('template1', 'CREATE DATABASE restored');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $n3->connstr('restored'), $dump ],
	'pg_restore into a new database');
is($n3->safe_psql('restored', 'SELECT string_agg(signature, \' \' ORDER BY signature) FROM zyzzyva.replicated_functions'),
	'public.pay(bigint,integer,integer,bigint) public.transfer(integer,integer,bigint)',
	'the restored database keeps the replicated functions');
is($n3->safe_psql('restored', q{SELECT string_agg(table_name || ':' || capturing, ' ' ORDER BY table_name)
                                  FROM zyzzyva.replicated_tables}),
	'accounts:true ledger:true', 'the restored database keeps the replicated tables, with their triggers');
is($n3->safe_psql('restored', 'SELECT pending FROM zyzzyva.adoption'), 't',
	'the restored registry waits for adopt()');
$n3->safe_psql('restored', 'SELECT count(*) FROM zyzzyva.adopt()');
is($n3->safe_psql('restored', q{SELECT encode(zyzzyva.state_digest(), 'hex')}), $digest3,
	'after adopt() the restored database has the digest of the original');
is($n3->safe_psql('restored', 'SELECT last_applied_seq || \' \' || stable_seq FROM zyzzyva.status'), '0 0',
	'the restored database is at batch 0: a fresh replica');

# the restored database takes the original's place
my $renamed = 0;
for (1 .. 50)
{
	my ($rc) = $n3->psql('template1',
		'ALTER DATABASE postgres RENAME TO postgres_old; ALTER DATABASE restored RENAME TO postgres');
	if ($rc == 0) { $renamed = 1; last; }
	usleep(200_000);	# (an autovacuum worker may be connected)
}
ok($renamed, 'the restored database replaces the original');
$zz->start_daemon(3);
ok($zz->wait_until(60, sub { $zz->ready(3) }), 'replica 3: its sidecar runs on the restored database');
my ($rc, $out, $err) = $zz->call_verbose(3, 'SELECT transfer(5, 6, 1)');
is($rc, 0, 'a call made in the restored database routes through the replicas and completes') or diag($err);
ok($zz->pay(3, 10), 'calls through replica 3 complete');
ok($zz->settle(0, 8), 'the four replicas agree again');
$zz->check_ledgers('after the restore', $total);

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for @all;
$zz->node($_)->stop for @all;
done_testing();
