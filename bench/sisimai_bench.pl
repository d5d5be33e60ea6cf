#!/usr/bin/perl
# Sisimai over a Maildir directory for bench/classify.sh: Sisimai->rise
# (Sisimai 5) or Sisimai->make (Sisimai 4, Debian 12's libsisimai-perl), the
# documented one-call API, on the whole directory. Prints
# "Sisimai VERSION: N results from M messages".
#   perl bench/sisimai_bench.pl MAILDIR/cur
use strict;
use warnings;
use Sisimai;

my $dir = shift // die "usage: sisimai_bench.pl DIR\n";
my $list = Sisimai->can('rise') ? Sisimai->rise($dir) : Sisimai->make($dir);
my (%messages, $results);
for my $d (@{ $list // [] }) {
    $results++;
    $messages{ $d->origin // '' }++;
}
printf "Sisimai %s: %d results from %d messages\n", Sisimai->version, $results // 0,
    scalar keys %messages;
