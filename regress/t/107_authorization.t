# Authorization on four PostgreSQL servers and four sidecars: no replica
# and no SQL role can do through replication more than it may do locally.
# Each attack of issue 11 is replayed through a public interface (psql on a
# replica, a replica's client socket through zyzzyva-cli, the daemon's
# configuration) and shown refused, the same way on every replica, with
# the cluster still completing calls afterwards.
#
#   - a call runs as its caller: a role without EXECUTE, or without
#     privilege on the table a SECURITY INVOKER function writes, gets 42501
#     on every replica, and nothing changes anywhere;
#   - a replica speaks only for the roles it is entrusted with (entrust.N):
#     replica 2's socket cannot call as alice, replica 0's can;
#   - a replicated DDL request from one replica alone applies nowhere; the
#     same text from a second replica (f+1) applies;
#   - replicated execution refuses shell and file access (COPY TO PROGRAM,
#     pg_read_file) even for a superuser the replica is entrusted with,
#     and even when a replicated DDL request planted the function;
#   - a trigger, CREATE OR REPLACE or DISABLE TRIGGER on a replicated
#     object on one replica is refused, even for a superuser;
#   - a role with CREATE on public plants public.quote_ident(name): reading
#     zyzzyva.status on every replica calls it nowhere;
#   - monitoring is for zyzzyva_monitor; zyzzyvad refuses configuration and
#     key files that others may write.
#
# Needs the daemon's binaries: ZZ_BUILD and ZZ_TOOLS (set by the Makefile's
# tap-check and pg-daemon-test); the harness is sidecar/daemon/tests/lib/ZZPG.pm.
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
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ZZPG;

my $sig = 'public.transfer(integer,integer,bigint)';
my $pwned = "$PostgreSQL::Test::Utils::tmp_check/zz_pwned";
# the same roles, grants and schema on every replica, before the sidecars
my $setup = q{
CREATE ROLE alice;
CREATE ROLE bob;
CREATE ROLE mallory;
CREATE ROLE watcher IN ROLE zyzzyva_monitor;
} . slurp_file("$ZZPG::tools/bank.sql") . q{
-- changing a replicated function's privileges outside replication: repair
-- mode (the same on every replica, before the sidecars start)
SET zyzzyva.repair_mode = on;
REVOKE EXECUTE ON FUNCTION transfer(integer, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION transfer(integer, integer, bigint) TO alice, bob;
RESET zyzzyva.repair_mode;
-- SECURITY INVOKER: the caller needs UPDATE on accounts
CREATE FUNCTION deposit(account integer, amount bigint) RETURNS bigint LANGUAGE sql
    AS $$ UPDATE accounts SET balance = balance + amount WHERE id = account RETURNING balance $$;
SELECT zyzzyva.replicate_function('deposit(integer,bigint)');
GRANT CREATE ON SCHEMA public TO mallory;
};
my $zz = ZZPG->new(
	name => 'authz',
	# every replica may call as postgres (the tests' own superuser); replica
	# 0 also as alice and mallory, replica 1 as bob
	entrust => [ 'postgres alice mallory', 'postgres bob', 'postgres', 'postgres' ],
	sql => [$setup]);
my $n = $zz->n;
my @all = 0 .. $n - 1;
my @node = map { $zz->node($_) } @all;
pass('four replicas with the bank, roles alice, bob, mallory; entrust.0 = postgres alice mallory, entrust.1 = postgres bob');
is(scalar($zz->digests(\@all)), 1, 'equal digests to start with');

# sum of balances on every replica, joined
sub sums { return join(',', map { $zz->q1($_, 'SELECT sum(balance) FROM accounts') } @all); }

# a call through replica $i's socket as $role: (exit code, output)
sub call_as
{
	my ($i, $role, $sig, @args) = @_;
	return $zz->cli($i, '--role', $role, '--database', 'postgres', '--call', $sig, @args);
}

# --- a call runs as its caller ---
{
	my ($rc, $out) = call_as(0, 'alice', $sig, '1 2 5');
	is($out, "995\n", 'alice, through replica 0 (entrusted with her): transfer(1, 2, 5) as alice');
	($rc, $out) = call_as(0, 'mallory', $sig, '1 2 500');
	is($out, "ERROR 42501: permission denied for function transfer\n",
		'mallory (no EXECUTE on transfer), through replica 0: 42501, as a local call would be');
	($rc, $out) = call_as(0, 'alice', 'public.deposit(integer,bigint)', '1 1000000');
	is($out, "ERROR 42501: permission denied for table accounts\n",
		'alice calls the SECURITY INVOKER deposit() without UPDATE on accounts: 42501');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is(sums(), '100000,100000,100000,100000', '... and no refused call changed anything anywhere');
	is(scalar($zz->digests(\@all)), 1, '... equal digests');

	# psql on replica 1 as mallory: refused locally, before any request
	my ($ret, $stdout, $stderr) = $node[1]->psql('postgres',
		"SET ROLE mallory;\nSELECT transfer(2, 1, 5);");
	like($stderr, qr/permission denied for function transfer/, 'mallory in psql on replica 1: refused locally');
	is($node[1]->safe_psql('postgres', "SET ROLE bob;\nSELECT transfer(2, 1, 5);"), '1000',
		'bob in psql on replica 1 (entrusted with him): transfer(2, 1, 5) as bob');
}

# --- a replica speaks only for the roles it is entrusted with ---
{
	my ($rc, $out) = call_as(2, 'alice', $sig, '1 2 5');
	is($out, "ERROR 42501: replica 2 is not entrusted with role \"alice\"\n",
		'a request for alice from replica 2\'s socket (as a faulty replica would send): refused on every replica');
	($rc, $out) = call_as(3, 'bob', $sig, '1 2 5');
	like($out, qr/^ERROR 42501: replica 3 is not entrusted with role "bob"/, '... bob from replica 3 too');
	($rc, $out) = call_as(1, 'nosuchrole', $sig, '1 2 5');
	like($out, qr/^ERROR 42501: replica 1 is not entrusted|^ERROR 42704: role "nosuchrole"/,
		'a role that does not exist: a deterministic error');
	my ($ret, $stdout, $stderr) = $node[3]->psql('postgres', "SET ROLE bob;\nSELECT transfer(1, 2, 5);");
	like($stderr, qr/replica 3 is not entrusted with role "bob"/,
		'bob in psql on replica 3 (not entrusted with him): the error names the entrustment');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is(sums(), '100000,100000,100000,100000', '... and nothing changed');
}

# --- shell and file access in replicated execution ---
{
	my $ddl = qq{CREATE FUNCTION shell() RETURNS void LANGUAGE plpgsql AS \$f\$
BEGIN COPY (SELECT 1) TO PROGRAM 'touch $pwned'; END \$f\$;
CREATE FUNCTION readconf() RETURNS text LANGUAGE sql AS \$f\$ SELECT pg_read_file('postgresql.conf') \$f\$;
SELECT zyzzyva.replicate_function('shell()');
SELECT zyzzyva.replicate_function('readconf()');};
	# the DDL text as one argument: the cli splits on white space, so send it as hex
	my $hex = $node[2]->safe_psql('postgres',
		"SELECT encode(zyzzyva.encode_call('zyzzyva.replicated_ddl(text)', \$q\$$ddl\$q\$), 'hex')");
	my ($rc, $out) = $zz->cli(2, '--hex', '--decode', $hex);
	ok($rc == 0 && $out !~ /ERROR/,
		'a replicated DDL request from replica 2\'s socket alone, creating a function that runs COPY TO PROGRAM')
	  or diag($out);
	ok($zz->converged(\@all, 0), '... is ordered everywhere');
	is(join(',', map { $zz->q1($_, q{SELECT to_regprocedure('public.shell()') IS NULL}) } @all), 't,t,t,t',
		'... and applies nowhere: one replica cannot change the schema');
	is($zz->q1(1, q{SELECT replica || ' ' || role || ' ' || replicas FROM zyzzyva.ddl_proposals}), '2 postgres 1',
		'... a pending proposal of replica 2, visible in zyzzyva.ddl_proposals');
	($rc, $out) = call_as(2, 'postgres', 'public.shell()', '');
	like($out, qr/^ERROR 42883: function public.shell\(\) is not replicated/, '... so there is nothing to call');
	($rc, $out) = $zz->cli(3, '--hex', '--decode', $hex);
	ok($zz->converged(\@all, 0), 'replica 3 proposes the same text (f+1 = 2 replicas)');
	is(join(',', map { $zz->q1($_, q{SELECT to_regprocedure('public.shell()') IS NOT NULL}) } @all), 't,t,t,t',
		'... and the functions exist on every replica');
	($rc, $out) = call_as(2, 'postgres', 'public.shell()', '');
	is($out, "ERROR 42501: COPY TO PROGRAM is not allowed in replicated execution\n",
		'calling it as the superuser replica 2 is entrusted with: refused');
	($rc, $out) = call_as(3, 'postgres', 'public.readconf()', '');
	is($out, "ERROR 42501: pg_read_file() is not allowed in replicated execution\n",
		'pg_read_file() in a replicated SQL function: refused');
	ok(!-e $pwned, '... no shell command ran on any replica');
	my ($ret, $stdout, $stderr) = $node[0]->psql('postgres', 'SELECT shell()');
	like($stderr, qr/COPY TO PROGRAM is not allowed in replicated execution/,
		'... and psql on replica 0 gets the same refusal');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is(scalar($zz->digests(\@all)), 1, '... equal digests');
}

# --- replicated objects change only through replication ---
{
	my ($ret, $stdout, $stderr) = $node[1]->psql('postgres', q{
CREATE FUNCTION promote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN ALTER ROLE mallory SUPERUSER; RETURN NEW; END $$;
CREATE TRIGGER promote BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION promote();});
	like($stderr, qr/CREATE TRIGGER on replicated table public\.accounts is not allowed outside replication/,
		'a trigger on a replicated table, on replica 1 alone, even by a superuser: refused');
	($ret, $stdout, $stderr) = $node[1]->psql('postgres', q{
CREATE OR REPLACE FUNCTION transfer(src integer, dst integer, amount bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT 0::bigint $$;});
	like($stderr, qr/CREATE OR REPLACE FUNCTION on replicated function public\.transfer\(integer,integer,bigint\) is not allowed/,
		'... CREATE OR REPLACE of a replicated function: refused');
	($ret, $stdout, $stderr) = $node[1]->psql('postgres',
		'ALTER TABLE accounts DISABLE TRIGGER zyzzyva_capture');
	like($stderr, qr/ALTER TABLE on replicated table public\.accounts is not allowed outside replication/,
		'... disabling the capture trigger: refused');
	my ($rc, $out) = call_as(1, 'bob', $sig, '8 9 1');
	is($out, "999\n", 'calls complete: the other replicas are not held up');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is(scalar($zz->digests(\@all)), 1, '... equal digests: replica 1 still has the same schema');
	is($node[1]->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		'... and mallory is no superuser');
}

# --- search_path: a function planted in public is never called by the extension ---
{
	$node[0]->safe_psql('postgres', q{
CREATE TABLE planted (who text);
GRANT INSERT ON planted TO PUBLIC;
SET ROLE mallory;
CREATE FUNCTION public.quote_ident(n name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.planted VALUES (current_user); RETURN n::text; END $$;
});
	is($node[0]->safe_psql('postgres', 'SELECT quote_ident(\'x\'::name); DELETE FROM planted;'), 'x',
		'mallory planted public.quote_ident(name) on replica 0');
	$node[0]->safe_psql('postgres',
		q{SELECT * FROM zyzzyva.status; SELECT * FROM zyzzyva.schema_items; SELECT zyzzyva.verify_digest();});
	$node[0]->safe_psql('postgres', "SET ROLE watcher;\nSELECT * FROM zyzzyva.status;");
	my ($rc, $out) = call_as(0, 'alice', $sig, '2 1 5');
	is($out, "995\n", 'a call as alice is applied with the plant in place');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is($node[0]->safe_psql('postgres', 'SELECT count(*) FROM planted'), '0',
		'reading zyzzyva.status and the schema digest, and applying batches, never called the plant');
}

# --- monitoring is for zyzzyva_monitor ---
{
	my ($ret, $stdout, $stderr) = $node[1]->psql('postgres', "SET ROLE alice;\nSELECT * FROM zyzzyva.peers;");
	like($stderr, qr/permission denied for view peers/, 'alice cannot read zyzzyva.peers');
	($ret, $stdout, $stderr) = $node[1]->psql('postgres', "SET ROLE alice;\nSELECT * FROM zyzzyva.ddl_history;");
	like($stderr, qr/permission denied for view ddl_history/, '... nor zyzzyva.ddl_history');
	is($node[1]->safe_psql('postgres', "SET ROLE watcher;\nSELECT count(*) FROM zyzzyva.peers WHERE connected;"),
		'3', 'a member of zyzzyva_monitor reads zyzzyva.peers: 3 connected');
}

# --- the daemon's files ---
{
	my $dir = PostgreSQL::Test::Utils::tempdir_short();
	my $conf = slurp_file($zz->{conf}[0]);
	open(my $fh, '>', "$dir/r0.conf") or die;
	print $fh $conf;
	close($fh);
	chmod(0664, "$dir/r0.conf");
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$ZZPG::build/zyzzyvad", '--check-config', "$dir/r0.conf" ], '>', \$out, '2>', \$err);
	like($out . $err, qr/r0\.conf: the configuration file is writable by its group/,
		'zyzzyvad refuses a group-writable configuration file, naming it');
	chmod(0600, "$dir/r0.conf");
	mkdir("$dir/keys");
	chmod(0777, "$dir/keys");
	copy($zz->{keys} . "/replica-1.pub", "$dir/keys/replica-1.pub") or die;
	$conf =~ s{^replica\.1 = (\S+) \S+$}{replica.1 = $1 $dir/keys/replica-1.pub}m;
	open($fh, '>', "$dir/r0.conf") or die;
	print $fh $conf;
	close($fh);
	IPC::Run::run([ "$ZZPG::build/zyzzyvad", '--check-config', "$dir/r0.conf" ], '>', \$out, '2>', \$err);
	like($out . $err, qr/key directory '\Q$dir\E\/keys' is writable by group or others/,
		'... and a public key in a directory others may write');
	$conf =~ s{^pg_conninfo = (.*)$}{pg_conninfo = $1 password=secret}m;
	$conf =~ s{^replica\.1 = (\S+) \S+$}{replica.1 = $1 $zz->{keys}/replica-1.pub}m;
	open($fh, '>', "$dir/r0.conf") or die;
	print $fh $conf;
	close($fh);
	IPC::Run::run([ "$ZZPG::build/zyzzyvad", '--check-config', "$dir/r0.conf" ], '>', \$out, '2>', \$err);
	like($out . $err, qr/pg_conninfo holds a password/, '... and warns of a password in pg_conninfo');
	$conf =~ s{^entrust\.0 = .*$}{entrust.0 = alice;drop}m;
	open($fh, '>', "$dir/r0.conf") or die;
	print $fh $conf;
	close($fh);
	IPC::Run::run([ "$ZZPG::build/zyzzyvad", '--check-config', "$dir/r0.conf" ], '>', \$out, '2>', \$err);
	like($out . $err, qr/entrust\.0: 'alice;drop' is not a role name/, '... and a malformed entrust line');
}

# --- the cluster still completes calls ---
{
	my ($rc, $out) = call_as(0, 'alice', $sig, '3 4 7', '4 3 7');
	is($out, "993\n1000\n", 'alice through replica 0: two more transfers complete');
	is($node[1]->safe_psql('postgres', "SET ROLE bob;\nSELECT transfer(5, 6, 1);"), '999',
		'bob through psql on replica 1 too');
	ok($zz->converged(\@all, 0), 'every replica applied the same batches');
	is(scalar($zz->digests(\@all)), 1, '... equal digests');
	is(join(',', map { $zz->q1($_, 'SELECT zyzzyva.verify_digest()') } @all), 't,t,t,t',
		'... each matching its rows');
	is(sums(), '100000,100000,100000,100000', 'no money made or lost');
}

done_testing();
