# ZZ.pm: helpers for zyzzyvad's multi-process TAP tests.
#
# Every process a test starts is recorded and stopped by its pid at the end
# (never by name).  Every wait is bounded in time.  Only 127.0.0.1 is used.
package ZZ;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT = qw(bin tools_dir test_dir cluster_init start_daemon stop_daemon kill_daemon
  wait_until cli cli_status probe slurp replica_port);

my $root = abs_path(dirname(__FILE__) . '/../../../..');
my $build = $ENV{ZZ_BUILD} // "$root/build";
my %started;    # pid => description
my $owner = $$; # only the test process itself stops daemons at exit

# Path of a built binary.
sub bin { return "$build/$_[0]"; }

# The tools directory (zyzzyva-cluster).
sub tools_dir { return $ENV{ZZ_TOOLS} // "$root/sidecar/tools"; }

# A fresh directory under /tmp, short enough for Unix socket paths.
sub test_dir { return tempdir('zzt-XXXXXX', DIR => '/tmp', CLEANUP => 1); }

# Keys and configs for a cluster in DIR, without starting anything.
sub cluster_init {
	my ($dir, @args) = @_;
	my $out = `ZZ_BUILD=$build ${\ tools_dir()}/zyzzyva-cluster init $dir @args 2>&1`;
	die "cluster init failed: $out" if $? != 0;
	return $out;
}

# Start one daemon on CONF, output appended to LOG; returns its pid.
sub start_daemon {
	my ($conf, $log) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		open(STDOUT, '>>', $log) or die "open $log: $!";
		open(STDERR, '>&', \*STDOUT) or die "dup: $!";
		exec(bin('zyzzyvad'), $conf) or die "exec: $!";
	}
	$started{$pid} = $conf;
	return $pid;
}

# Is pid still ours and alive (reap it if it exited)?
sub alive {
	my ($pid) = @_;
	return 0 if waitpid($pid, WNOHANG) == $pid;
	return kill(0, $pid);
}

# SIGTERM, wait up to 5 s, then SIGKILL.  Returns the exit status (or -1).
sub stop_daemon {
	my ($pid) = @_;
	return -1 unless $started{$pid};
	kill('TERM', $pid);
	for (1 .. 100) {
		if (waitpid($pid, WNOHANG) == $pid) {
			delete $started{$pid};
			return $? >> 8;
		}
		sleep(0.05);
	}
	kill('KILL', $pid);
	waitpid($pid, 0);
	delete $started{$pid};
	return -1;
}

# SIGKILL (a crash) and reap.
sub kill_daemon {
	my ($pid) = @_;
	return unless $started{$pid};
	kill('KILL', $pid);
	waitpid($pid, 0);
	delete $started{$pid};
}

# Poll COND every 50 ms for at most SECONDS; true if it held.
sub wait_until {
	my ($seconds, $cond) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline) {
		return 1 if $cond->();
		sleep(0.05);
	}
	return $cond->();
}

# Run zyzzyva-cli on SOCKET with OPS; returns (exit code, output).
sub cli {
	my ($sock, @ops) = @_;
	my @cmd = (bin('zyzzyva-cli'), '--timeout', '5', '--verbose', '--socket', $sock, '--', @ops);
	open(my $fh, '-|', @cmd) or die "cli: $!";
	local $/;
	my $out = <$fh> // '';
	close($fh);
	return ($? >> 8, $out);
}

# The status of the daemon behind SOCKET as a hash (empty if unreachable).
sub cli_status {
	my ($sock) = @_;
	my @cmd = (bin('zyzzyva-cli'), '--timeout', '2', '--socket', $sock, '--status');
	open(my $saved, '>&', \*STDERR) or die "dup: $!";
	open(STDERR, '>', '/dev/null');
	my $ok = open(my $fh, '-|', @cmd);
	open(STDERR, '>&', $saved);
	return {} unless $ok;
	my %st;
	while (my $line = <$fh>) {
		$st{$1} = $2 if $line =~ /^([\w.]+): (.*)$/;
	}
	close($fh);
	return \%st;
}

# Run zyzzyva-probe with ARGS; returns (exit code, output).
sub probe {
	my @cmd = (bin('zyzzyva-probe'), @_);
	open(my $fh, '-|', @cmd) or die "probe: $!";
	local $/;
	my $out = <$fh> // '';
	close($fh);
	return ($? >> 8, $out);
}

# A file's contents.
sub slurp {
	my ($path) = @_;
	open(my $fh, '<', $path) or return '';
	local $/;
	return <$fh>;
}

# host:port of replica I from a config file.
sub replica_port {
	my ($conf, $i) = @_;
	return $1 if slurp($conf) =~ /^replica\.$i = (\S+)/m;
	die "no replica.$i in $conf";
}

END {
	my $status = $?;
	for my $pid ($$ == $owner ? keys %started : ()) {
		kill('KILL', $pid);
		waitpid($pid, 0);
	}
	$? = $status;
}

1;
