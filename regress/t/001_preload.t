# The library must be preloaded: CREATE EXTENSION without it fails with a
# clear error, and a server restarted without it keeps replicated tables
# write-protected rather than silently writable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->start;

my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION zyzzyva');
isnt($ret, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($err, qr/zyzzyva must be loaded via shared_preload_libraries/,
	'the error says why');
like($err, qr/HINT:  Add zyzzyva to shared_preload_libraries in postgresql.conf and restart the server\./,
	'the hint says what to do');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'zyzzyva'");
$node->restart;
is( $node->safe_psql(
		'postgres', q{
CREATE EXTENSION zyzzyva;
CREATE TABLE t (id integer PRIMARY KEY);
SELECT zyzzyva.replicate_table('t');
SHOW zyzzyva.call_timeout;
}),
	"\n30s",
	'with the library preloaded the extension installs');

$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
($ret, $out, $err) = $node->psql('postgres', 'INSERT INTO t VALUES (1)');
isnt($ret, 0, 'a replicated table refuses writes once the library is gone');
like($err, qr/zyzzyva must be loaded via shared_preload_libraries/,
	'with the same clear error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '0', 'and nothing was written');

$node->stop;
done_testing();
