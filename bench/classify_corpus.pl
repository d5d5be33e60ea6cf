#!/usr/bin/perl
# The corpus of bench/classify.sh: N distinct messages made from mailfleet's
# own test mail (tests/fixtures/mail, see its README), written as a Maildir
# so Sisimai can read it as one and the other contenders read the same files.
#   perl bench/classify_corpus.pl FIXTURES MAILDIR N [SEED]
# Mostly bounces of the common shapes (about 80%: Postfix, Exchange Online,
# Gmail, Exim, Amazon SES, Sendmail, Yahoo, qmail, OpenSMTPD, full
# mailboxes, delay notices), then auto-replies, replies, complaints,
# unsubscribes and list mail, by the weights below. Each copy gets its own
# addresses (every local part but the mail system's gets a per-copy suffix,
# the same all through the copy), Message-IDs, dates (all moved by one
# per-copy shift, weekdays recomputed) and the trace headers a delivered
# message carries (Received, and for some DKIM-Signature and
# Authentication-Results) in front, in the copy's own line endings, which
# brings the average to about 4 KB. Prints "N messages, BYTES bytes" and,
# on stdout, one line per template: "FILE COUNT".
use strict;
use warnings;
use POSIX qw(strftime);
use Time::Local qw(timegm);

my ($fixtures, $maildir, $n, $seed) = @ARGV;
die "usage: classify_corpus.pl FIXTURES MAILDIR N [SEED]\n" unless $fixtures && $maildir && $n;
srand($seed // 1);

# template => weight (out of 100)
my %weight = (
    'postfix-user-unknown.eml' => 14, 'exchange-online-5.1.10.eml' => 12,
    'gmail-nosuchuser.eml' => 10, 'exim-failed.eml' => 6, 'amazon-ses.eml' => 5,
    'exchange-online-5.7.708.eml' => 5, 'mailbox-full-5.2.2.eml' => 5,
    'postfix-relay-denied.eml' => 4, 'sendmail-user-unknown.eml' => 4,
    'yahoo-554.eml' => 4, 'mailbox-full-4.2.2-delayed.eml' => 4,
    'qmail-no-mailbox.eml' => 3, 'opensmtpd-user-unknown.eml' => 2,
    'global-dsn-utf8.eml' => 2,
    'ooo-auto-submitted.eml' => 4, 'ooo-german-subject.eml' => 2,
    'ooo-french-subject.eml' => 2,
    'reply-both.eml' => 2, 'reply-in-reply-to.eml' => 2, 'reply-references.eml' => 1,
    'reply-quoting-ooo.eml' => 1, 'stranger.eml' => 1,
    'arf-complaint.eml' => 2, 'unsubscribe-reply.eml' => 1,
    'unsubscribe-mailto.eml' => 1, 'newsletter.eml' => 1,
);
my (@names, @cumulative);
my $total = 0;
for my $f (sort keys %weight) {
    $total += $weight{$f};
    push @names, $f;
    push @cumulative, $total;
}
my %text;
for my $f (@names) {
    open my $fh, '<:raw', "$fixtures/$f" or die "$fixtures/$f: $!\n";
    local $/;
    $text{$f} = <$fh>;
    close $fh;
}

# local parts of mail systems and lists keep their meaning: left alone
my $system = qr/^(?:mailer|mail[-._]?daemon|postmaster|mdaemon|microsoftexchange|no-?reply|
                   abuse|unsubscribe|unsub|news|fbl)/xi;
my @mon = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
my %mon;
@mon{@mon} = (0 .. 11);
my @hosts = qw(mx1.contoso.example mail.fabrikam.example mx.northwind.example
               smtp.adventure.example mx2.example.org in1.example.net);

sub trace_headers {
    my ($i, $rcpt, $date, $eol) = @_;
    my @h;
    for my $k (1 .. 3 + int(rand(9))) {
        my $host = $hosts[int(rand(@hosts))];
        my $id = join '', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9)[rand 62] } 1 .. 14;
        push @h, sprintf("Received: from %s (%s [192.0.2.%d])${eol}\tby mx%d.fleet.example " .
                         "(Postfix) with ESMTPS id %s${eol}\tfor <%s>; %s",
                         $host, $host, 1 + int(rand(250)), $k, $id, $rcpt, $date);
    }
    if (rand() < 0.5) {
        my $b = join '', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '+', '/')[rand 64] } 1 .. 344;
        my @b = unpack '(A72)*', $b;
        push @h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=fleet.example;" .
                 "${eol}\ts=m$i; t=" . (1715000000 + $i) . "; h=from:to:subject:date:message-id;" .
                 "${eol}\tbh=" . substr($b, 0, 44) . ";${eol}\tb=" . join("${eol}\t  ", @b);
    }
    if (rand() < 0.6) {
        push @h, "Authentication-Results: mx1.fleet.example;${eol}\tdkim=pass header.d=fleet.example;" .
                 "${eol}\tspf=pass smtp.mailfrom=fleet.example;${eol}\tdmarc=pass (p=quarantine) " .
                 "header.from=fleet.example";
    }
    return join($eol, @h) . $eol;
}

sub vary {
    my ($local, $domain, $tag) = @_;
    return $local =~ $system ? "$local\@$domain" : "$local.$tag\@$domain";
}

sub shift_date {
    my ($d, $mo, $y, $hh, $mm, $ss, $shift) = @_;
    my $t = eval { timegm($ss, $mm, $hh, $d, $mon{$mo}, $y) };
    return undef unless defined $t;
    return strftime('%a, %-d %b %Y %H:%M:%S', gmtime($t + $shift));
}

mkdir $maildir;
mkdir "$maildir/$_" for qw(cur new tmp);
my (%count, $bytes);
for my $i (1 .. $n) {
    my $r = rand($total);
    my $k = 0;
    $k++ while $cumulative[$k] <= $r;
    my $f = $names[$k];
    $count{$f}++;
    my $m = $text{$f};
    my $tag = sprintf('%x%s', $i, join '', map { ('a' .. 'z')[rand 26] } 1 .. 3);
    # addresses and ids: the same new local part everywhere in this copy
    $m =~ s{(?<![A-Za-z0-9._%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]*)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)}
           {vary($1, $2, $tag)}ge;
    # dates: one shift for the whole copy, up to a year later
    my $shift = int(rand(365 * 86400));
    $m =~ s{(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d)}
           {shift_date($1, $2, $3, $4, $5, $6, $shift) // $&}ge;
    my $eol = $m =~ /\r\n/ ? "\r\n" : "\n";
    my ($to) = $m =~ /^To:[^\n]*?([A-Za-z0-9._%+\-]+\@[A-Za-z0-9.\-]+)/mi;
    my ($date) = $m =~ /^Date: *([^\r\n]+)/mi;
    my $trace = trace_headers($i, $to // "anna.$tag\@fleet.example",
                              $date // 'Tue, 14 May 2024 09:12:03 +0000', $eol);
    # after a Return-Path, as a delivery agent writes them
    if ($m =~ /\AReturn-Path:[^\n]*\n/) {
        substr($m, length($&), 0) = $trace;
    } else {
        $m = $trace . $m;
    }
    my $name = sprintf('%d.M%06dP1.bench:2,S', 1715677923 + $i, $i);
    open my $out, '>:raw', "$maildir/cur/$name" or die "$maildir/cur/$name: $!\n";
    print $out $m;
    close $out or die "$maildir/cur/$name: $!\n";
    $bytes += length $m;
}
printf STDERR "%d messages, %d bytes (%.0f on average)\n", $n, $bytes, $bytes / $n;
print "$_ $count{$_}\n" for sort keys %count;
