#!/usr/bin/perl
# Sisimai's view of saved messages, for e2e_classify.sh to compare with
# `mailfleet classify --json`. One line per recipient Sisimai reports:
#   FILE <TAB> kind <TAB> address <TAB> hard|soft <TAB> reason
# kind: bounce, complaint (reason feedback) or auto-reply (vacation); a file
# with nothing to report gives "FILE <TAB> none". Works with Sisimai 4
# (Sisimai->make, softbounce) and 5 (Sisimai->rise, hardbounce).
use strict;
use warnings;
use Sisimai;

binmode STDOUT, ':encoding(UTF-8)';
for my $file (@ARGV) {
    my $list = Sisimai->can('rise') ? Sisimai->rise($file, 'vacation' => 1)
                                    : Sisimai->make($file);
    my $printed = 0;
    for my $d (@{ $list // [] }) {
        my $reason = $d->reason // '';
        my $kind = $reason eq 'feedback' ? 'complaint'
                 : $reason eq 'vacation' ? 'auto-reply'
                 : 'bounce';
        my $hard = $d->can('hardbounce') ? ($d->hardbounce ? 'hard' : 'soft')
                 : (defined $d->softbounce && $d->softbounce eq '0') ? 'hard' : 'soft';
        my $addr = lc($d->recipient->address // '');
        utf8::decode($addr) unless utf8::is_utf8($addr);
        print join("\t", $file, $kind, $addr, $hard, $reason), "\n";
        $printed++;
    }
    print "$file\tnone\n" unless $printed;
}
