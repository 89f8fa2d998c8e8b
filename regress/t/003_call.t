# The call path against a fake sidecar: a process that listens on
# zyzzyva.socket_path, reads FT_L_REQUEST frames and answers as a test
# needs (canned values, errors, silence, garbage), or applies the call to
# the database through zyzzyva.apply_batch() and answers with its reply,
# as zyzzyvad does once a request is complete.
use strict;
use warnings;
use IO::Socket::UNIX;
use POSIX ();
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sockdir = PostgreSQL::Test::Utils::tempdir_short();
my $sock = "$sockdir/zz.sock";

my $node = PostgreSQL::Test::Cluster->new('call');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'zyzzyva'
zyzzyva.socket_path = '$sock'
zyzzyva.entrust = '0:*,postgres'
});
$node->start;
my $connstr = $node->connstr('postgres');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION zyzzyva;
CREATE TABLE accounts (id integer PRIMARY KEY, owner text NOT NULL,
                       balance numeric NOT NULL CHECK (balance >= 0));
INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50);
SELECT zyzzyva.replicate_table('accounts');
CREATE FUNCTION transfer(from_id integer, to_id integer, how_much numeric) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE
    left_over numeric;
BEGIN
    UPDATE accounts SET balance = balance - how_much WHERE id = from_id
        RETURNING balance INTO left_over;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', from_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE accounts SET balance = balance + how_much WHERE id = to_id;
    RETURN left_over;
END $$;
CREATE FUNCTION echo(t text) RETURNS text STRICT LANGUAGE sql AS $$ SELECT t $$;
CREATE FUNCTION relay(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN echo(t) || '!'; END $$;
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION fail_with(code text) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION account(acct integer) RETURNS accounts LANGUAGE sql AS $$ SELECT * FROM accounts WHERE id = acct $$;
CREATE FUNCTION pair(OUT a integer, OUT b text) LANGUAGE sql AS $$ SELECT 0, 'local' $$;
CREATE FUNCTION nothing() RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION maybe() RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;
CREATE FUNCTION stamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT NULL::timestamptz $$;
CREATE FUNCTION raw(at timestamptz, x double precision, n numeric, t text, b bytea, ids integer[])
    RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION stall() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION hangup() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION refuse() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION garble() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION bogus_frame() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION late() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION lagging() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
CREATE FUNCTION bye() RETURNS text LANGUAGE sql AS $$ SELECT 'local' $$;
SELECT count(zyzzyva.replicate_function(f)) FROM unnest(ARRAY[
    'transfer(integer,integer,numeric)', 'echo(text)', 'relay(text)', 'whoami()',
    'fail_with(text)', 'account(integer)', 'pair()', 'nothing()', 'maybe()', 'stamp()',
    'raw(timestamptz,double precision,numeric,text,bytea,integer[])', 'stall()',
    'hangup()', 'refuse()', 'garble()', 'bogus_frame()', 'lagging()', 'bye()']::regprocedure[]) AS f;
});

# --- the fake sidecar ------------------------------------------------------

# Read exactly $n bytes, or return undef at EOF.
sub read_exact
{
	my ($fh, $n) = @_;
	my $buf = '';
	while (length($buf) < $n)
	{
		my $got = sysread($fh, $buf, $n - length($buf), length($buf));
		return undef if !$got;
	}
	return $buf;
}

sub send_frame
{
	my ($fh, $type, $payload) = @_;
	syswrite($fh, pack('C V', $type, length($payload)) . $payload);
}

# An FT_L_RESULT frame: path, view, seq, then the reply bytes.
sub send_result
{
	my ($fh, $reply, $path, $view, $seq) = @_;
	send_frame($fh, 0x11, pack('C Q< Q<', $path // 0, $view // 0, $seq // 0) . $reply);
}

sub reply_value { my ($t) = @_; return defined $t ? 'V' . pack('N', length $t) . $t : 'V' . pack('N', 0xFFFFFFFF); }
sub reply_error { my ($state, $msg) = @_; return 'E' . $state . pack('N', length $msg) . $msg; }

# call := rolelen:u32 role dblen:u32 db siglen:u32 sig nargs:u32 (len:i32 text)*
sub decode_call
{
	my ($op) = @_;
	my $pos = 0;
	for (1 .. 2)	# the calling role and database
	{
		my ($len) = unpack('N', substr($op, $pos, 4));
		$pos += 4 + $len;
	}
	my ($siglen) = unpack('N', substr($op, $pos, 4));
	my $sig = substr($op, $pos + 4, $siglen);
	$pos += 4 + $siglen;
	my ($nargs) = unpack('N', substr($op, $pos, 4));
	$pos += 4;
	my @args;
	for (1 .. $nargs)
	{
		my ($len) = unpack('N', substr($op, $pos, 4));
		$pos += 4;
		if ($len == 0xFFFFFFFF) { push @args, undef; next; }
		push @args, substr($op, $pos, $len);
		$pos += $len;
	}
	return ($sig, @args);
}

# Apply the call to the database as the batch after the last one, and
# return its reply and sequence number: what zyzzyvad does once the request
# is complete (and committed here: psql -c commits before it returns).
sub apply_call
{
	my ($op) = @_;
	my $hex = unpack('H*', $op);
	my $sql =
	    "WITH s AS (SELECT last_seq + 1 AS seq FROM zyzzyva.replica_state) "
	  . "SELECT s.seq || ' ' || encode(b.reply, 'hex') FROM s, "
	  . "zyzzyva.apply_batch(s.seq, 0, sha256(s.seq::text::bytea), 1700000000000000, 7, "
	  . "zyzzyva.encode_batch(ARRAY['\\x$hex'::bytea])) b";
	open(my $psql, '-|', 'psql', '-XAtq', '-d', $connstr, '-c', $sql)
	  or die "psql: $!";
	my $out = <$psql>;
	close($psql);
	chomp $out;
	my ($seq, $reply) = split / /, $out;
	return (pack('H*', $reply), $seq);
}

# Serve one connection, the $conn'th accepted, until the backend leaves.
sub serve
{
	my ($c, $conn) = @_;
	my $nreq = 0;
	while (defined(my $hdr = read_exact($c, 5)))
	{
		my ($type, $len) = unpack('C V', $hdr);
		my $op = $len ? read_exact($c, $len) : '';
		return if !defined $op || $type != 0x10;
		$nreq++;
		my ($sig, @args) = decode_call($op);
		if ($sig eq 'public.echo(pg_catalog.text)')
		{
			send_result($c, reply_value("fake:$args[0]"));
		}
		elsif ($sig eq 'public.whoami()')
		{
			send_result($c, reply_value("conn=$conn req=$nreq"), 1, 3, 1000 + $nreq);
		}
		elsif ($sig eq 'public.fail_with(pg_catalog.text)')
		{
			send_result($c, reply_error($args[0], "failing with $args[0]"));
		}
		elsif ($sig eq 'public.account(integer)')
		{
			send_result($c, reply_value("($args[0],carol,12.50)"));
		}
		elsif ($sig eq 'public.pair()')
		{
			send_result($c, reply_value('(7,"from the sidecar")'));
		}
		elsif ($sig eq 'public.nothing()')
		{
			send_result($c, reply_value(''));
		}
		elsif ($sig eq 'public.maybe()')
		{
			send_result($c, reply_value(undef));
		}
		elsif ($sig eq 'public.stamp()')
		{
			send_result($c, reply_value('2024-01-02 03:04:05.5+00'));
		}
		elsif ($sig =~ /^public\.raw\(/ || $sig eq 'public.late()')
		{
			send_result($c, reply_value(unpack('H*', $op)));
		}
		elsif ($sig eq 'public.lagging()')
		{
			# complete, but this replica had not applied it (0x80)
			send_result($c, reply_value('late news'), 0x80, 2, 77);
		}
		elsif ($sig eq 'public.bye()')
		{
			# answer, then drop the connection as a restarting sidecar would
			send_result($c, reply_value('bye'));
			return;
		}
		elsif ($sig eq 'public.stall()')
		{
			# never answer; leave when the backend does
			1 while defined read_exact($c, 1);
			return;
		}
		elsif ($sig eq 'public.hangup()')
		{
			return;
		}
		elsif ($sig eq 'public.refuse()')
		{
			send_frame($c, 0x12, "request refused by the client state machine");
		}
		elsif ($sig eq 'public.garble()')
		{
			send_result($c, 'X');
		}
		elsif ($sig eq 'public.bogus_frame()')
		{
			send_frame($c, 0x99, 'what?');
		}
		else
		{
			my ($reply, $seq) = apply_call($op);
			send_result($c, $reply, 0, 0, $seq);
		}
	}
}

# Start the fake sidecar; returns its pid.  It forks a process per
# connection, as calls may wait on each other; all of them exit when it
# is sent SIGTERM.
sub start_fake_sidecar
{
	unlink $sock;
	my $listener = IO::Socket::UNIX->new(
		Type => SOCK_STREAM,
		Local => $sock,
		Listen => 16) or die "cannot listen on $sock: $!";
	my $pid = fork();
	die "fork: $!" if !defined $pid;
	if ($pid == 0)
	{
		my %kids;
		local $SIG{TERM} = sub { kill 'TERM', keys %kids; POSIX::_exit(0); };
		local $SIG{CHLD} = 'IGNORE';
		my $conn = 0;
		while (1)
		{
			my $c = $listener->accept or next;
			$conn++;
			if (-e "$sockdir/full")
			{
				# refuse the connection as zyzzyvad should when all its
				# client slots are taken: a reason, then close
				send_frame($c, 0x12, 'all client slots in use (max_clients)');
				close $c;
				next;
			}
			my $kid = fork();
			if (defined $kid && $kid == 0)
			{
				local $SIG{TERM} = 'DEFAULT';
				local $SIG{CHLD} = 'DEFAULT';
				close $listener;
				serve($c, $conn);
				POSIX::_exit(0);
			}
			$kids{$kid} = 1 if $kid;
			close $c;
		}
	}
	close $listener;
	return $pid;
}

sub stop_fake_sidecar
{
	my ($pid) = @_;
	kill 'TERM', $pid;
	waitpid($pid, 0);
	unlink $sock;
}

# psql, returning (stdout, stderr) and the seconds it took
sub timed_psql
{
	my ($sql) = @_;
	my $t0 = time();
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 0);
	return ($out, $err, time() - $t0);
}

# --- no sidecar -------------------------------------------------------------

my ($out, $err, $took) = timed_psql('SELECT echo(\'hi\')');
like($err, qr/ERROR:  could not reach the zyzzyva sidecar at "\Q$sock\E": No such file or directory/,
	'no sidecar: a clear error');
like($err, qr/HINT:  Start zyzzyvad for this replica/, 'with a hint');
cmp_ok($took, '<', 5, 'at once');

# a socket file nobody listens on
{
	my $dead = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $sock, Listen => 1)
	  or die "cannot listen on $sock: $!";
	close $dead;
	($out, $err, $took) = timed_psql('SELECT echo(\'hi\')');
	like($err, qr/could not reach the zyzzyva sidecar at "\Q$sock\E": Connection refused/,
		'a socket nobody listens on: connection refused');
	cmp_ok($took, '<', 5, 'at once');
	unlink $sock;
}

# not configured at all
$node->safe_psql('postgres', 'ALTER SYSTEM SET zyzzyva.socket_path = \'\'');
$node->reload;
$node->poll_query_until('postgres', 'SELECT current_setting(\'zyzzyva.socket_path\') = \'\'')
  or die 'reload did not take';
($out, $err) = timed_psql('SELECT echo(\'hi\')');
like($err, qr/ERROR:  cannot call replicated function public\.echo\(pg_catalog\.text\): no zyzzyva sidecar is configured/,
	'no socket_path: says so');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET zyzzyva.socket_path');
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('zyzzyva.socket_path') = '$sock'")
  or die 'reload did not take';

# --- canned answers -----------------------------------------------------------

my $fake = start_fake_sidecar();

is($node->safe_psql('postgres', "SELECT echo('hi')"), 'fake:hi',
	'a call returns what the sidecar answered, not what the body computes');
is($node->safe_psql('postgres', "SELECT echo(NULL) IS NULL"), 't',
	'a STRICT function with a NULL argument needs no call');

my @who = split /\n/, $node->safe_psql('postgres', "SELECT whoami();\nSELECT whoami();\nSELECT * FROM zyzzyva.last_call();");
like($who[0], qr/^conn=(\d+) req=1$/, 'first call of a session');
my ($conn1) = $who[0] =~ /conn=(\d+)/;
is($who[1], "conn=$conn1 req=2", 'the second reuses the connection');
is($who[2], 'public.whoami()|commit|3|1002|00000|t', 'last_call(): path, view and seq of the result frame');

($out, $err) = timed_psql("SELECT lagging();\nSELECT path, seq, applied FROM zyzzyva.last_call();");
is($out, "late news\nfast|77|f", 'a result this replica had not applied is still the result');
like($err, qr/WARNING:  replicated call of public\.lagging\(\) completed, but this replica has not applied it yet/,
	'with a warning that read-your-writes does not hold');

($out, $err) = timed_psql("\\set VERBOSITY verbose\nSELECT fail_with('23505')");
like($err, qr/ERROR:  23505: failing with 23505/, "an 'E' reply raises its SQLSTATE and message");
is( $node->safe_psql(
		'postgres', q{
DO $$
BEGIN
    PERFORM fail_with('22012');
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught';
END $$;
SELECT sqlstate FROM zyzzyva.last_call();}),
	'22012',
	'which an EXCEPTION block catches by its condition');

is($node->safe_psql('postgres', 'SELECT (account(7)).owner, (account(7)).balance'),
	"carol|12.50", 'a row result is read with its row type');
is($node->safe_psql('postgres', 'SELECT a, b FROM pair()'),
	'7|from the sidecar', 'OUT parameters are read as their record');
is($node->safe_psql('postgres', 'SELECT nothing() IS NOT NULL, maybe() IS NULL'),
	't|t', 'void and NULL results');
is( $node->safe_psql(
		'postgres', q{
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SELECT stamp();}),
	'02/01/2024 08:34:05.5 IST',
	'a result printed under the pinned settings is read under them, whatever the session uses');

# the request bytes: the canonical signature and each argument printed
# under the pinned settings, whatever the session's own
my $sent = $node->safe_psql(
	'postgres', q{
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SELECT raw('2024-01-02 08:34:05+05:30', 0.1, 1.50, 'it''s', '\x00ff', ARRAY[1, NULL, 3]);});
my $expected = $node->safe_psql(
	'postgres', q{
SELECT encode(zyzzyva.encode_call(signature,
    '2024-01-02 03:04:05+00', '0.1', '1.50', 'it''s', '\x00ff', '{1,NULL,3}'), 'hex')
  FROM zyzzyva.function_registry WHERE signature LIKE 'public.raw(%';});
is($sent, $expected, 'the request is the canonical encoding of the call');

# a backend that has read the registry learns of a later registration
my $bg = $node->background_psql('postgres', on_error_stop => 0);
is($bg->query_safe('SELECT late()'), 'local', 'before registration late() runs here');
$node->safe_psql('postgres', "SELECT zyzzyva.replicate_function('late()')");
like($bg->query_safe('SELECT late()'), qr/^[0-9a-f]+$/,
	'after registration elsewhere, the same session sends it to the sidecar');

# --- broken sidecars ------------------------------------------------------------

($out, $err) = timed_psql('SELECT refuse()');
like($err, qr/ERROR:  the zyzzyva sidecar refused the replicated call of public\.refuse\(\): request refused by the client state machine/,
	'FT_L_ERROR: the sidecar refused');
($out, $err) = timed_psql("\\set VERBOSITY verbose\nSELECT garble()");
like($err, qr/ERROR:  08P01: malformed reply from the zyzzyva sidecar to the replicated call of public\.garble\(\)/,
	'a malformed reply is a protocol violation');
($out, $err) = timed_psql('SELECT bogus_frame()');
like($err, qr/unexpected frame from the zyzzyva sidecar.*\nDETAIL:  Frame type 153 with 5 bytes/,
	'an unknown frame is a protocol violation');
($out, $err) = timed_psql("\\set VERBOSITY verbose\nSELECT hangup()");
like($err, qr/ERROR:  08007: the zyzzyva sidecar closed the connection during the replicated call of public\.hangup\(\)/,
	'a sidecar that hangs up: the outcome is unknown (08007)');

# a sidecar that drops an idle connection (it restarted): the next call
# opens a new one without the caller noticing, many times over
($out, $err) = timed_psql(join("\n", map { "SELECT bye();" } 1 .. 20) . "\nSELECT whoami();");
is($err, '', 'a connection the sidecar dropped between calls is replaced transparently');
like($out, qr/\A(bye\n){20}conn=\d+ req=1\z/, 'every call answered');

# a sidecar that refuses the connection says why
{
	open(my $flag, '>', "$sockdir/full") or die;
	close $flag;
	($out, $err) = timed_psql("\\set VERBOSITY verbose\nSELECT whoami();");
	like($err, qr/ERROR:  08006: .*all client slots in use \(max_clients\)/s,
		'a refused connection: the sidecar\'s reason, and the call was not submitted');
	unlink "$sockdir/full";
}

# --- waiting is interruptible ---------------------------------------------------

($out, $err, $took) = timed_psql("SET zyzzyva.call_timeout = '300ms';\nSELECT whoami();\nSELECT stall();\nSELECT whoami();");
like($err, qr/ERROR:  replicated call of public\.stall\(\) timed out after 300 ms/,
	'zyzzyva.call_timeout ends a call the sidecar does not answer');
like($err, qr/DETAIL:  The zyzzyva sidecar did not complete the call in time; it may still complete on the replicas\./,
	'and says it may still complete');
my @lines = split /\n/, $out;
my ($before) = $lines[0] =~ /conn=(\d+)/;
my ($after) = $lines[1] =~ /conn=(\d+) req=1/;
ok(defined $after && $after != $before, 'the next call opens a new connection');
cmp_ok($took, '<', 10, 'promptly');

($out, $err, $took) = timed_psql("SET statement_timeout = '300ms';\nSELECT stall();");
like($err, qr/ERROR:  canceling statement due to statement timeout/,
	'statement_timeout cancels a waiting call');
like($err, qr/CONTEXT:  waiting for the zyzzyva sidecar to complete the replicated call of public\.stall\(\); it may still complete on the replicas/,
	'with a context that says what was interrupted');
cmp_ok($took, '<', 10, 'promptly');

$bg->query_until(qr/stalling/, "\\echo stalling\nSELECT stall();\n");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%stall()%'"),
	'a waiting call shows in pg_stat_activity');
my $t0 = time();
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%stall()%'");
like($bg->query('SELECT 1'), qr/^1$/m, 'the cancelled session goes on');
like($bg->{stderr}, qr/canceling statement due to user request/, 'cancel ends the wait');
cmp_ok(time() - $t0, '<', 10, 'promptly');
$bg->{stderr} = '';
like($bg->query_safe('SELECT whoami()'), qr/^conn=\d+ req=1$/,
	'and its next call gets a fresh connection');
$bg->quit;

# --- applied through the database ---------------------------------------------

is($node->safe_psql('postgres', 'SELECT transfer(1, 2, 10)'), '90',
	'a call applied by the sidecar returns the agreed result');
is($node->safe_psql('postgres', "SELECT transfer(1, 2, 5);\nSELECT balance FROM accounts WHERE id = 1;"),
	"85\n85", 'and the next statement of the same session reads its effect');
($out, $err) = timed_psql("\\set VERBOSITY verbose\nSELECT transfer(9, 1, 5)");
like($err, qr/ERROR:  P0002: no account 9/, "the function's own error comes back with its SQLSTATE");
is($node->safe_psql('postgres', "SELECT relay('x')"), 'x!',
	'in replicated execution the replicated functions a body calls run there');
is( $node->safe_psql(
		'postgres',
		'SELECT last_applied_seq, zyzzyva.verify_digest() FROM zyzzyva.status'),
	'4|t',
	'four batches applied, digest consistent');
($out, $err) = timed_psql("BEGIN;\nSELECT transfer(1, 2, 1);\nCOMMIT;");
like($err, qr/ERROR:  replicated function public\.transfer\(integer,integer,numeric\) cannot be called inside a transaction block/,
	'refused inside a transaction block');
is($node->safe_psql('postgres', 'SELECT last_applied_seq FROM zyzzyva.status'),
	'4', 'and nothing was sent');

stop_fake_sidecar($fake);

($out, $err, $took) = timed_psql('SELECT echo(\'gone\')');
like($err, qr/could not reach the zyzzyva sidecar/, 'a sidecar that went away: a clear error');
cmp_ok($took, '<', 5, 'at once');

$node->stop;
done_testing();
