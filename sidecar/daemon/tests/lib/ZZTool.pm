# ZZTool.pm: TAP helpers for a cluster made by the operator's tool,
# sidecar/tools/zyzzyva-cluster (regress/t/115_restart_tool.t,
# 120_adopt_tool.t): run the tool, reach replica I's database through the
# Unix socket in DIR/run, and stop the cluster when the script ends,
# showing the sidecars' logs if it failed.
#
#   my $c = ZZTool->new(dir => $dir, n => 4);
#   my ($rc, $out) = $c->tool('start', $dir, ...);
#   my ($rc, $stdout, $stderr) = $c->psql(I, SQL [, DB]);
#   my $value = $c->q1(I, SQL [, DB]);     dies on an error
package ZZTool;

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my @clusters;

sub new
{
	my ($class, %a) = @_;
	my $self = bless { dir => $a{dir}, n => $a{n}, started => 0,
		bin => "$ENV{ZZ_TOOLS}/zyzzyva-cluster" }, $class;
	push @clusters, $self;
	return $self;
}

# Run the tool; (exit code, output).  Any run marks the cluster as one to
# stop at the end.
sub tool
{
	my ($self, @args) = @_;
	my ($out, $err) = ('', '');
	$self->{started} = 1;
	IPC::Run::run([ $self->{bin}, @args ], '>', \$out, '2>', \$err, IPC::Run::timeout(180));
	my $rc = $? >> 8;
	note("zyzzyva-cluster @args: rc $rc\n$out$err");
	return ($rc, $out . $err);
}

sub port
{
	my ($self, $i) = @_;
	my $conf = slurp_file("$self->{dir}/pg-$i/zyzzyva-cluster.conf");
	return $conf =~ /^port = '(\d+)'/m ? $1 : die "no port for $i";
}

# psql on database db (default zyzzyva) of replica i's server; (exit code,
# stdout, stderr).
sub psql
{
	my ($self, $i, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', "$self->{dir}/run",
			'-p', $self->port($i), '-d', $db // 'zyzzyva', '-c', $sql ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	chomp $out;
	return ($? >> 8, $out, $err);
}

sub q1
{
	my ($self, $i, $sql, $db) = @_;
	my ($rc, $out, $err) = $self->psql($i, $sql, $db);
	die "replica $i: $sql: $err" if $rc != 0;
	return $out;
}

END
{
	my $status = $?;
	for my $self (@clusters)
	{
		next unless $self->{started};
		system($self->{bin}, 'stop', $self->{dir});
		next unless $status != 0 || !Test::More->builder->is_passing;
		for my $i (0 .. $self->{n} - 1)
		{
			next unless -f "$self->{dir}/replica-$i.log";
			my @l = split /\n/, slurp_file("$self->{dir}/replica-$i.log");
			diag("== replica-$i.log (last 25 lines)\n" . join("\n", @l > 25 ? @l[-25 .. -1] : @l));
		}
	}
	$? = $status;
}

1;
