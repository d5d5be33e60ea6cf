#!/usr/bin/env bash
# End to end: `mailfleet classify` over tests/fixtures/mail.
#  1. --json gives one line per file, exactly the documented keys, and the
#     kind the fixtures' README lists for each file; no store is created
#     (and: --files-from -, a Maildir and a directory give the same lines;
#     quotes and backslashes in a diagnostic come out escaped)
#  2. cross-check with Debian's Sisimai (libsisimai-perl, see
#     sisimai_classify.pl): for every fixture the same bounce / not-bounce,
#     the same recipients and the same hard/soft. Skipped, saying so, when
#     Sisimai is not installed (scripts/deps.sh test installs it)
#  3. matched: with a store whose outbox holds the Message-IDs, a bounce (by
#     In-Reply-To and by the returned original), an auto-reply and a reply
#     (by References) name their outbox message; a stranger's mail does not
# Usage: MF=build/mailfleet tests/e2e/e2e_classify.sh (PEERS_DIR is not used).
set -u
MF=${MF:?path to the mailfleet binary}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures/mail
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mf-e2e-classify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export MAILFLEET_DB="$WORK/store.db"
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'PASS %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s: %s\n' "$1" "$2"; }

cd "$fixtures" || exit 1
files=(*.eml)

# ---- 1. the JSON lines ------------------------------------------------------------
"$MF" classify --json "${files[@]}" > "$WORK/ours.jsonl" 2> "$WORK/ours.err"
status=$?
n=json-lines
if [ "$status" -ne 0 ]; then
  fail $n "exit status $status: $(cat "$WORK/ours.err")"
elif [ "$(wc -l < "$WORK/ours.jsonl")" -ne "${#files[@]}" ]; then
  fail $n "$(wc -l < "$WORK/ours.jsonl") lines for ${#files[@]} files"
else
  ok $n
fi
n=no-store-created
if [ -e "$MAILFLEET_DB" ]; then fail $n "classify created $MAILFLEET_DB"; else ok $n; fi

# ours.tsv: FILE kind in_reply_to matched address:hard,... (- when empty)
perl -MJSON::PP -e '
  my @files = @ARGV; my $i = 0; my $bad = 0;
  while (my $line = <STDIN>) {
    my $j = JSON::PP->new->decode($line);
    my @keys = sort keys %$j;
    $bad++, print STDERR "$files[$i]: keys @keys\n"
      unless "@keys" eq "in_reply_to kind matched recipients";
    my @r;
    for my $c (@{ $j->{recipients} }) {
      my @ck = sort keys %$c;
      $bad++, print STDERR "$files[$i]: recipient keys @ck\n"
        unless "@ck" eq "action address diagnostic hard reason status";
      push @r, $c->{address} . ":" . ($c->{hard} ? "hard" : "soft");
    }
    print join("\t", $files[$i++], $j->{kind}, $j->{in_reply_to} // "-",
               $j->{matched} // "-", @r ? join(",", sort @r) : "-"), "\n";
  }
  exit($bad ? 1 : 0);' "${files[@]}" < "$WORK/ours.jsonl" > "$WORK/ours.tsv" 2> "$WORK/keys.err"
n=json-keys
if [ $? -eq 0 ]; then ok $n; else fail $n "$(cat "$WORK/keys.err")"; fi

# the kind each file should have: the README table's third column
for f in "${files[@]}"; do
  want=$(awk -F'|' -v f="$f" '{ gsub(/ /, "", $2) } $2 == f { split($4, w, /[ ,(]+/); print w[2] }' README.md)
  got=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$WORK/ours.tsv")
  n="kind:$f"
  if [ -z "$want" ]; then fail "$n" "not listed in README.md"
  elif [ "$got" != "$want" ]; then fail "$n" "classify says $got, README says $want"
  else ok "$n"; fi
done

# the human form explains itself
n=human-output
out=$("$MF" classify postfix-user-unknown.eml 2>&1)
if printf '%s' "$out" | grep -q 'why         RFC 3464 delivery status report' &&
   printf '%s' "$out" | grep -q 'nobody@example.org: failed 5.1.1, hard (userunknown)' &&
   printf '%s' "$out" | grep -q 'matched     not looked up: no store at'; then
  ok $n
else
  fail $n "$out"
fi
n=unreadable-file
out=$("$MF" classify --json postfix-user-unknown.eml /nonexistent.eml 2>/dev/null)
st=$?
if [ $st -eq 66 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = null ] &&
   [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ]; then ok $n; else fail $n "status $st: $out"; fi

# many files: --files-from LIST (- is standard input), a Maildir, a directory
n="files-from"
out=$(printf '%s\n' "${files[@]}" | "$MF" classify --json --files-from - 2>&1)
if [ "$out" = "$(cat "$WORK/ours.jsonl")" ]; then ok $n; else fail $n "differs from the FILE arguments"; fi
mkdir -p "$WORK/md/new" "$WORK/md/cur" "$WORK/md/tmp" "$WORK/dir"
cp "${files[@]:0:3}" "$WORK/md/new/"
cp "${files[@]:3}" "$WORK/md/cur/"
cp "${files[@]}" "$WORK/dir/"
touch "$WORK/dir/.hidden"
mkdir "$WORK/dir/sub"
n=maildir
out=$("$MF" classify --json "$WORK/md" 2>&1)
if [ "$out" = "$(cat "$WORK/ours.jsonl")" ]; then ok $n; else fail $n "differs from the FILE arguments"; fi
n=directory
out=$("$MF" classify --json "$WORK/dir" 2>&1)
if [ "$out" = "$(cat "$WORK/ours.jsonl")" ]; then ok $n; else fail $n "differs from the FILE arguments"; fi
n="files-from-usage"
"$MF" classify --files-from - - < /dev/null > /dev/null 2>&1
st=$?
"$MF" classify --files-from "$WORK/no-such-list" > /dev/null 2>&1
st2=$?
if [ $st -eq 64 ] && [ $st2 -eq 66 ]; then ok $n; else fail $n "status $st (want 64), $st2 (want 66)"; fi

# strings JSON must escape: quotes and backslashes in a diagnostic, beside UTF-8
n=json-escapes
{
  printf '%s\n' 'From: MAILER-DAEMON@mx.example.org' 'To: anna@fleet.example' \
    'Subject: Undelivered Mail Returned to Sender' 'MIME-Version: 1.0' \
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"' '' '--b' \
    'Content-Type: message/delivery-status' '' 'Reporting-MTA: dns; mx.example.org' '' \
    'Final-Recipient: rfc822; q@example.org' 'Action: failed' 'Status: 5.1.1'
  printf 'Diagnostic-Code: smtp; 550 5.1.1 "J\303\266rg" \\said\\ no <"q"@example.org>\n\n--b--\n'
} > "$WORK/escapes.eml"
got=$("$MF" classify --json "$WORK/escapes.eml" 2>&1 |
  perl -MJSON::PP -ne 'print JSON::PP->new->ascii->encode([JSON::PP->new->utf8->decode($_)->{recipients}[0]{diagnostic}])')
want='["550 5.1.1 \"J\u00f6rg\" \\said\\ no <\"q\"@example.org>"]'
if [ "$got" = "$want" ]; then ok $n; else fail $n "diagnostic $got, want $want"; fi

# ---- 2. Sisimai ---------------------------------------------------------------------
if ! perl -MSisimai -e 1 2>/dev/null; then
  printf 'SKIP sisimai-cross-check: Sisimai (Debian libsisimai-perl) is not installed; '
  printf 'scripts/deps.sh test installs it\n'
else
  perl "$here/sisimai_classify.pl" "${files[@]}" > "$WORK/sisimai.tsv" 2> "$WORK/sisimai.err"
  printf 'Sisimai %s\n' "$(perl -MSisimai -e 'print Sisimai->version')"
  printf '%-32s %-11s %-11s %-26s %-5s %-5s %s\n' FILE MAILFLEET SISIMAI RECIPIENT OURS THEIRS AGREE
  for f in "${files[@]}"; do
    ours_kind=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$WORK/ours.tsv")
    ours_r=$(awk -F'\t' -v f="$f" '$1 == f { print $5 }' "$WORK/ours.tsv")
    their_kind=$(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$WORK/sisimai.tsv" | sort -u | head -n 1)
    their_r=$(awk -F'\t' -v f="$f" '$1 == f && $2 == "bounce" { print $3 ":" $4 }' "$WORK/sisimai.tsv" |
              sort | paste -sd, -)
    [ -z "$their_r" ] && their_r=-
    ours_bounce=no; [ "$ours_kind" = bounce ] && ours_bounce=yes
    their_bounce=no; [ "$their_kind" = bounce ] && their_bounce=yes
    agree=yes
    [ "$ours_bounce" != "$their_bounce" ] && agree="no: bounce $ours_bounce/$their_bounce"
    if [ "$agree" = yes ] && [ "$ours_bounce" = yes ] && [ "$ours_r" != "$their_r" ]; then
      agree="no: $ours_r / $their_r"
    fi
    rcpt=${ours_r%%:*}; [ "$ours_bounce" = no ] && rcpt=-
    printf '%-32s %-11s %-11s %-26s %-5s %-5s %s\n' "$f" "$ours_kind" "${their_kind:-none}" \
      "$rcpt" "$( [ "$ours_bounce" = yes ] && echo "${ours_r##*:}" || echo -)" \
      "$( [ "$their_bounce" = yes ] && echo "${their_r##*:}" || echo -)" "$agree"
    if [ "$agree" = yes ]; then ok "sisimai:$f"; else fail "sisimai:$f" "$agree"; fi
  done
fi

# ---- 3. matched ---------------------------------------------------------------------
if ! command -v sqlite3 >/dev/null; then
  printf 'SKIP matched: sqlite3 is not installed\n'
else
  "$MF" suppress list > /dev/null || fail store "could not create $MAILFLEET_DB"
  sqlite3 "$MAILFLEET_DB" <<'SQL'
INSERT INTO campaigns (id, name, spec, nsteps, status, created_at)
  VALUES (1, 'e2e', '{}', 2, 'active', 0);
INSERT INTO leads (id, address, domain, created_at) VALUES
  (1, 'nobody@fabrikam.example', 'fabrikam.example', 0),
  (2, 'nobody@example.org', 'example.org', 0),
  (3, 'lea@contoso.example', 'contoso.example', 0),
  (4, 'sam@northwind.example', 'northwind.example', 0);
INSERT INTO enrollments (id, campaign_id, lead_id, mailbox) VALUES
  (1, 1, 1, 'work'), (2, 1, 2, 'work'), (3, 1, 3, 'work'), (4, 1, 4, 'work');
INSERT INTO outbox (enrollment_id, step, mailbox, message_id, sender, rcpt, subject, raw,
                    state, created_at, updated_at) VALUES
  (1, 0, 'work', '<f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example>', 'anna@fleet.example',
   'nobody@fabrikam.example', 'Quick question', x'00', 'sent', 0, 0),
  (2, 0, 'work', '<k2j5m7q9r3t5v7x2z4b6d8f3h5.sdgvk0@fleet.example>', 'anna@fleet.example',
   'nobody@example.org', 'Quick question', x'00', 'sent', 0, 0),
  (3, 0, 'work', '<s4u6w8y4a6c8e3g5j7l2n4q6s8.sdhav4@fleet.example>', 'anna@fleet.example',
   'lea@contoso.example', 'Quick question', x'00', 'sent', 0, 0),
  (4, 0, 'work', '<w8y4a6c8e3g5j7l2n4q6s8u3w5.sdhez8@fleet.example>', 'anna@fleet.example',
   'sam@northwind.example', 'Quick question', x'00', 'sent', 0, 0);
SQL
  check_match() { # FILE WANT
    local got
    got=$("$MF" classify --json "$1" | perl -MJSON::PP -ne 'print JSON::PP->new->decode($_)->{matched} // "null"')
    if [ "$got" = "$2" ]; then ok "matched:$1"; else fail "matched:$1" "got $got, want $2"; fi
  }
  check_match exchange-online-5.1.10.eml '<f6h8k4m6p8r4t6v8x4z6b8d3f5.sdh1c2@fleet.example>'
  check_match postfix-user-unknown.eml '<k2j5m7q9r3t5v7x2z4b6d8f3h5.sdgvk0@fleet.example>'
  check_match ooo-auto-submitted.eml '<s4u6w8y4a6c8e3g5j7l2n4q6s8.sdhav4@fleet.example>'
  check_match reply-quoting-ooo.eml '<s4u6w8y4a6c8e3g5j7l2n4q6s8.sdhav4@fleet.example>'
  check_match reply-references.eml '<w8y4a6c8e3g5j7l2n4q6s8u3w5.sdhez8@fleet.example>'
  check_match stranger.eml null
  check_match exim-failed.eml null
  n=matched-human
  out=$("$MF" classify ooo-auto-submitted.eml 2>&1)
  if printf '%s' "$out" | grep -q 'matched     <s4u6w8y4a6c8e3g5j7l2n4q6s8.sdhav4@fleet.example> (outbox message 3: step 1 to lea@contoso.example from work, sent)'; then
    ok $n
  else
    fail $n "$out"
  fi
fi

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
