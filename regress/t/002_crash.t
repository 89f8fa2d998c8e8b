# Crash consistency: a batch, its undo, its digest update and the replica's
# position commit together or not at all.  After an immediate shutdown in
# the middle of a batch the database is at the last committed batch, the
# digest matches the rows, and both applying and rolling back go on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'zyzzyva'\nzyzzyva.entrust = '0:*,postgres'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION zyzzyva;
CREATE TABLE kv (k integer PRIMARY KEY, v integer NOT NULL);
CREATE FUNCTION bump(key integer) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO kv VALUES (key, 1) ON CONFLICT (k) DO UPDATE SET v = kv.v + 1
    RETURNING v
$$;
SELECT zyzzyva.replicate_table('kv');
SELECT zyzzyva.replicate_function('bump(integer)');
});

# SQL applying batch $seq, which bumps each of @keys
sub batch
{
	my ($seq, @keys) = @_;
	my $calls = join(', ',
		map { "zyzzyva.encode_call('public.bump(integer)', '$_')" } @keys);
	return "SELECT count(*) FROM zyzzyva.apply_batch($seq, 0, sha256('$seq'), "
	  . "0, 0, zyzzyva.encode_batch(ARRAY[$calls]))";
}

sub digest
{
	return $node->safe_psql('postgres',
		q{SELECT encode(zyzzyva.state_digest(), 'hex')});
}

my %digest_at;
for my $seq (1 .. 20)
{
	$node->safe_psql('postgres', batch($seq, $seq % 5, ($seq * 3) % 7));
	$digest_at{$seq} = digest();
}

# batch 21 is in flight, uncommitted, when the server dies
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('BEGIN');
$bg->query_safe(batch(21, 1, 2, 3, 100));
$node->stop('immediate');
eval { $bg->quit; };
$node->start;

is($node->safe_psql('postgres', 'SELECT last_applied_seq FROM zyzzyva.status'),
	'20', 'after the crash the position is the last committed batch');
is(digest(), $digest_at{20}, 'the digest is the one after batch 20');
is($node->safe_psql('postgres', 'SELECT zyzzyva.verify_digest()'),
	't', 'and it matches the rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kv WHERE k = 100'),
	'0', 'nothing of batch 21 is there');
is( $node->safe_psql(
		'postgres', 'SELECT count(DISTINCT seq) FROM zyzzyva.undo_log'),
	'20',
	'undo is kept for every committed batch');

$node->safe_psql('postgres', batch(21, 1, 2, 3, 100));
is($node->safe_psql('postgres', 'SELECT last_applied_seq FROM zyzzyva.status'),
	'21', 'batch 21 applies after the restart');

$node->safe_psql('postgres', 'SELECT zyzzyva.rollback_to(10)');
is(digest(), $digest_at{10}, 'rolling back to 10 restores the digest after batch 10');
is($node->safe_psql('postgres', 'SELECT zyzzyva.verify_digest()'),
	't', 'and the rows');

$node->stop;
done_testing();
