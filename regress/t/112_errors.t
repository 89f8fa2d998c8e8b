# Errors of replicated calls reach the caller as a local call's would, on
# a live cluster: SQLSTATE, message, DETAIL and HINT (not CONTEXT).  And a
# replicated call that completed is committed on every replica even when
# the statement or block that made it fails afterwards: the caller gets a
# WARNING that says so (docs/sql.md); a call whose own error was caught
# commits nothing and warns nothing.
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
CREATE TABLE paid (id integer PRIMARY KEY, amount integer NOT NULL);
CREATE FUNCTION pay(i integer, amount integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF amount > 100 THEN
        RAISE EXCEPTION 'amount % is too large', amount
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The limit is 100 per call.',
                  HINT = 'Split the payment.';
    END IF;
    INSERT INTO paid VALUES (i, amount);
    RETURN amount;
END $$;
CREATE FUNCTION stamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT now() $$;
SELECT zyzzyva.replicate_table('paid');
SELECT zyzzyva.replicate_function('pay(integer,integer)');
SELECT zyzzyva.replicate_function('stamp()');
};
my $zz = ZZPG->new(name => 'err', settings => { checkpoint_interval => 8 }, sql => [$schema]);
my @all = 0 .. $zz->n - 1;

# Run $sql through replica i with verbose errors; (exit code, stdout, stderr).
sub run
{
	my ($i, $sql) = @_;
	my ($rc, $out, $err) = $zz->call_verbose($i, $sql);
	return ($rc, $out, $err);
}

# --- the function's own error, with DETAIL and HINT ---
my ($rc, $out, $err) = run(1, 'SELECT pay(1, 500)');
isnt($rc, 0, 'a failing replicated call fails');
like($err, qr/ERROR:  22023: amount 500 is too large/, 'the caller gets its SQLSTATE and message');
like($err, qr/DETAIL:  The limit is 100 per call\./, '... its DETAIL');
like($err, qr/HINT:  Split the payment\./, '... and its HINT');

# an error PostgreSQL raises, with its DETAIL
($rc, $out, $err) = run(2, 'SELECT pay(1, 10)');
is($rc, 0, 'a call that succeeds');
($rc, $out, $err) = run(3, 'SELECT pay(1, 20)');
like($err, qr/ERROR:  23505: duplicate key value violates unique constraint "paid_pkey"/,
	'a unique violation reaches the caller through another replica');
like($err, qr/DETAIL:  Key \(id\)=\(1\) already exists\./, '... with its DETAIL');

# the determinism guard's hint (the one that says to use zyzzyva.now())
($rc, $out, $err) = run(0, 'SELECT stamp()');
like($err, qr/ERROR:  0A000: function now\(\) is not allowed in replicated execution/,
	'a refused nondeterministic call fails with 0A000');
like($err, qr/HINT:  Use zyzzyva\.now\(\)/, '... and the caller gets the hint to use zyzzyva.now()');

# PL/pgSQL sees them too
($rc, $out, $err) = run(1, q{DO $$
DECLARE d text; h text;
BEGIN
    PERFORM pay(2, 700);
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE 'caught: % / %', d, h;
END $$});
like($err, qr/NOTICE:  00000: caught: The limit is 100 per call\. \/ Split the payment\./,
	'an EXCEPTION block reads the DETAIL and HINT');
unlike($err, qr/WARNING/, '... and, since the call itself failed, nothing is committed: no warning');

# --- a completed call in a statement or block that fails afterwards ---
($rc, $out, $err) = run(2, q{DO $$ BEGIN PERFORM pay(5, 50); RAISE EXCEPTION 'later failure'; END $$});
like($err, qr/ERROR:  P0001: later failure/, 'a DO block that fails after a replicated call');
like($err, qr/WARNING:  01000: the replicated call of public\.pay\(integer,integer\) is committed on every replica, although the statement that made it rolled back/,
	'... warns that the call is committed on every replica');

($rc, $out, $err) = run(0, 'SELECT pay(6, 60) / 0');
like($err, qr/ERROR:  22012: division by zero/, 'a query that fails after the call it made');
like($err, qr/WARNING:  01000: the replicated call of public\.pay\(integer,integer\) is committed on every replica/,
	'... warns too');

($rc, $out, $err) = run(3, q{DO $$
BEGIN
    BEGIN
        PERFORM pay(7, 70);
        RAISE EXCEPTION 'inner failure';
    EXCEPTION WHEN raise_exception THEN
        RAISE NOTICE 'inner block rolled back';
    END;
END $$});
is($rc, 0, 'a block that catches a failure after a call it made succeeds');
like($err, qr/WARNING:  01000: the replicated call of public\.pay\(integer,integer\) is committed on every replica, although the block that made it rolled back/,
	'... and warns that the call is committed all the same');

($rc, $out, $err) = run(1, 'SELECT pay(8, 80)');
unlike($err, qr/WARNING/, 'a call in a statement that succeeds warns nothing');

ok($zz->converged(\@all, 0), 'every replica applied the same batches');
is( join(',', map { $zz->q1($_, q{SELECT string_agg(id || '=' || amount, ',' ORDER BY id) FROM paid}) } @all),
	join(',', ('1=10,5=50,6=60,7=70,8=80') x 4),
	'the calls whose statements failed afterwards are committed on every replica');
is(scalar($zz->digests(\@all)), 1, 'equal state digests (the error replies were equal too)');

is($zz->stop_daemon($_), 0, "sidecar $_ exits 0 on SIGTERM") for @all;
$zz->node($_)->stop for @all;
done_testing();
