/* diag/explain: every row found by the reply it documents, the matching
 * rules, pasted-text parsing and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag/explain.h"

#define S EXPLAIN_SMTP
#define I EXPLAIN_IMAP
#define P EXPLAIN_POP3
#define A EXPLAIN_ANY
#define NONE MF_LAYER_NONE
#define TCP MF_LAYER_TCP
#define TLS MF_LAYER_TLS
#define DNS MF_LAYER_DNS
#define AUTH MF_LAYER_AUTH
#define REJ MF_LAYER_REJECT

/* One realistic failure per row: the reply as the server sends it (code and
 * enhanced code split off, as proto/smtp_reply does) or our transport text. */
struct lcase {
    const char *want;
    enum explain_proto proto;
    enum mf_layer layer;
    int code;
    const char *enh;
    const char *text;
    int port;
    int ms;
};

#define MSID " [BN0PR04CA0011.namprd04.prod.outlook.com 2024-01-01T00:00:00.000Z 08DC0000]"

static struct lcase lcases[] = {
    /* Microsoft 365 / Outlook.com */
    {"m365-smtp-auth-security-defaults", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, user is locked by your organization's security "
     "defaults policy. Contact your administrator." MSID, 587, 1},
    {"m365-smtp-auth-disabled-tenant", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information." MSID, 587, 1},
    {"m365-smtp-auth-disabled-mailbox", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information." MSID, 587, 1},
    {"m365-basic-auth-blocked", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, basic authentication is disabled." MSID, 587, 1},
    {"m365-smtp-auth-bad-credentials", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, the user credentials were incorrect." MSID, 587, 1},
    {"m365-smtp-auth-policy", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful, the request did not meet the criteria to be "
     "authenticated successfully. Contact your administrator." MSID, 587, 1},
    {"m365-smtp-auth-disabled", S, AUTH, 535, "5.7.139",
     "Authentication unsuccessful" MSID, 587, 1},
    {"m365-basic-auth-retired", S, AUTH, 550, "5.7.30",
     "Basic authentication is not supported for Client Submission.", 587, 1},
    {"m365-auth-unsuccessful", S, AUTH, 535, "5.7.3",
     "Authentication unsuccessful [BN6PR03CA0021.namprd03.prod.outlook.com]", 587, 1},
    {"m365-client-not-authenticated", S, REJ, 530, "5.7.57",
     "Client not authenticated to send mail. [BN1P110CA0052.NAMP110.PROD.OUTLOOK.COM "
     "2023-11-29T14:52:57.126Z 08DBE7319275F6BA]", 587, 1},
    {"m365-legacy-tls", S, REJ, 421, "4.7.66",
     "TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support "
     "TLS 1.2. Visit https://aka.ms/smtp_auth_tls." MSID, 587, 1},
    {"m365-concurrent-limit", S, REJ, 432, "4.3.2",
     "STOREDRV.ClientSubmit; sender thread limit exceeded" MSID, 587, 1},
    {"m365-daily-recipient-limit", S, REJ, 554, "5.2.0",
     "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
     "process message due to a permanent exception with message Cannot submit "
     "message." MSID, 587, 1},
    {"m365-recipient-rate-limit", A, REJ, 550, "5.1.90",
     "Your message can't be sent because you've reached your daily limit for message "
     "recipients.", 0, 0},
    {"m365-sender-mailbox-full", S, REJ, 554, "5.2.2",
     "mailbox full; STOREDRV.Submission.Exception:QuotaExceededException."
     "MapiExceptionShutoffQuotaExceeded", 587, 1},
    {"m365-sendas-throttled", S, REJ, 550, "5.2.252",
     "Sender throttled due to continuous send as denied errors.", 587, 1},
    {"m365-error-throttled", S, REJ, 550, "5.2.253",
     "Sender throttled due to continuous invalid license errors.", 587, 1},
    {"m365-sendas-denied", S, REJ, 550, "5.7.60",
     "SMTP; Client does not have permissions to send as this sender", 587, 1},
    {"m365-bad-outbound-sender", S, REJ, 550, "5.1.8",
     "Access denied, bad outbound sender. AS(42004)" MSID, 587, 1},
    {"m365-server-busy", A, REJ, 451, "4.7.500",
     "Server busy. Please try again later from [203.0.113.7]. (S77719)" MSID, 25, 1},
    {"m365-temp-restricted", A, REJ, 451, "4.7.550",
     "Access denied, please try again later", 25, 1},
    {"m365-ip-temp-restricted", A, REJ, 451, "4.7.850",
     "Access denied, please try again later", 25, 1},
    {"m365-spam-banned-sender", A, REJ, 550, "5.7.501",
     "Access denied, spam abuse detected.", 0, 0},
    {"m365-banned-ip", A, REJ, 550, "5.7.511",
     "Access denied, banned sender[203.0.113.7]. To request removal from this list "
     "please forward this message to delist@messaging.microsoft.com.", 0, 0},
    {"outlook-auth-level", A, REJ, 550, "5.7.515",
     "Access denied, sending domain example.com does not meet the required "
     "authentication level.", 0, 0},
    {"m365-dmarc-fail", A, REJ, 550, "5.7.509",
     "Access denied, sending domain [example.com] does not pass DMARC verification "
     "and has a DMARC policy of reject.", 0, 0},
    {"m365-banned-ip-range", A, REJ, 550, "5.7.606",
     "Access denied, banned sending IP [185.234.72.45]. To request removal from this "
     "list please visit https://sender.office.com/ and follow the directions.", 0, 0},
    {"m365-tenant-threshold", A, REJ, 550, "5.7.705",
     "Access denied, tenant has exceeded threshold.", 0, 0},
    {"m365-ip-not-accepted", A, REJ, 550, "5.7.708",
     "Service unavailable. Access denied, traffic not accepted from this IP.", 0, 0},
    {"m365-unregistered-domain", A, REJ, 550, "5.7.750",
     "Service unavailable. Client blocked from sending from unregistered domains.", 0, 0},
    {"m365-tenant-blocked", A, REJ, 550, "5.7.720", "Access denied", 0, 0},
    {"m365-tenant-attribution", A, REJ, 550, "5.7.64",
     "TenantAttribution; Relay Access Denied", 0, 0},
    {"m365-recipient-not-found", A, REJ, 550, "5.1.10",
     "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", 0, 0},
    {"m365-relay-denied", A, REJ, 550, "5.4.1", "Relay Access Denied ATTR35" MSID, 0, 0},
    {"m365-recipient-rejected", A, REJ, 550, "5.4.1",
     "Recipient address rejected: Access denied. AS(201806281)" MSID, 0, 0},
    {"m365-spf-fail", A, REJ, 550, "5.7.23",
     "The message was rejected because of Sender Policy Framework violation", 0, 0},
    /* Gmail */
    {"gmail-bad-credentials", S, AUTH, 535, "5.7.8",
     "Username and Password not accepted. For more information, go "
     "to\nhttps://support.google.com/mail/?p=BadCredentials "
     "d2e1a72fcca58-6e6f7f7sm1234567b3a.42 - gsmtp", 587, 0},
    {"gmail-app-password", S, AUTH, 534, "5.7.9",
     "Application-specific password required. For more information, go "
     "to\nhttps://support.google.com/mail/?p=InvalidSecondFactor x1sm2 - gsmtp", 465, 0},
    {"gmail-web-login", S, AUTH, 534, "5.7.14",
     "<https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbs7>\n"
     "Please log in via your web browser and\n"
     "then try again.\n"
     "Learn more at\n"
     "https://support.google.com/mail/answer/78754 r62sm34599651pfi.184 - gsmtp", 587, 0},
    {"gmail-too-many-logins", S, AUTH, 454, "4.7.0",
     "Too many login attempts, please try again later. For more information, go "
     "to\nhttps://support.google.com/mail/answer/7126229 - gsmtp", 587, 0},
    {"gmail-unusual-rate", A, REJ, 421, "4.7.28",
     "Gmail has detected an unusual rate of unsolicited email originating from your "
     "IP address 203.0.113.7. To protect our users from spam, email sent from your IP "
     "address has been temporarily rate limited. - gsmtp", 25, 0},
    {"gmail-unsolicited", A, REJ, 550, "5.7.1",
     "This message is likely unsolicited email. To reduce the amount of spam sent to "
     "Gmail, this message has been blocked. - gsmtp", 25, 0},
    {"gmail-unauthenticated", A, REJ, 550, "5.7.26",
     "This mail has been blocked because the sender is unauthenticated. Gmail "
     "requires all senders to authenticate with either SPF or DKIM. - gsmtp", 25, 0},
    {"gmail-unauthenticated-temp", A, REJ, 421, "4.7.26",
     "This email has been rate limited because it is unauthenticated. Gmail requires "
     "all senders to authenticate with either SPF or DKIM. - gsmtp", 25, 0},
    {"gmail-bulk-requirements", A, REJ, 550, "5.7.30",
     "This message was blocked because it didn't pass DKIM authentication. Gmail "
     "requires bulk email senders to authenticate their email with DKIM. - gsmtp", 25, 0},
    {"gmail-daily-limit", S, REJ, 550, "5.4.5",
     "Daily user sending limit exceeded. For more information on Gmail sending "
     "limits, go to\nhttps://support.google.com/a/answer/166852 - gsmtp", 587, 0},
    {"gmail-recipient-rate", A, REJ, 450, "4.2.1",
     "The user you are trying to contact is receiving mail too quickly. Please resend "
     "your message at a later time. - gsmtp", 25, 0},
    /* Yahoo */
    {"yahoo-deferred", A, REJ, 421, "4.7.0",
     "[TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume "
     "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     25, 0},
    {"yahoo-spamhaus", A, REJ, 553, "5.7.1",
     "[BL21] Connections will not be accepted from 203.0.113.7, because the ip is in "
     "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", 25, 0},
    {"ip-blocklisted", A, REJ, 550, "5.7.1",
     "Unfortunately, messages from [88.198.83.90] weren't sent. Please contact your "
     "Internet service provider since part of their network is on our block list "
     "(S3150).", 25, 0},
    {"yahoo-policy", A, REJ, 554, "5.7.9",
     "Message not accepted for policy reasons.  See "
     "https://postmaster.yahooinc.com/error-codes", 25, 0},
    /* any SMTP server */
    {"starttls-required", S, AUTH, 530, "5.7.0",
     "Must issue a STARTTLS command first. - gsmtp", 587, 0},
    {"smtp-auth-required", S, REJ, 530, "5.7.0", "Authentication required", 587, 0},
    {"smtp-auth-too-weak", S, AUTH, 534, "5.7.9",
     "Authentication mechanism is too weak", 587, 0},
    {"smtp-auth-failed", S, AUTH, 535, "5.7.8",
     "Error: authentication failed: authentication failure", 587, 0},
    {"smtp-454", S, MF_LAYER_PROTO, 454, "4.7.0",
     "TLS not available due to temporary reason", 587, 0},
    {"recipient-unknown", A, REJ, 550, "5.1.1",
     "The email account that you tried to reach does not exist. Please try "
     "double-checking the recipient's email address. - gsmtp", 25, 0},
    {"mailbox-full", A, REJ, 552, "5.2.2",
     "The recipient's inbox is out of storage space and inactive. - gsmtp", 25, 0},
    {"message-too-big", A, REJ, 552, "5.3.4",
     "Your message exceeded Google's message size limits. - gsmtp", 25, 0},
    {"message-too-big-mailbox", A, REJ, 552, "5.2.3",
     "Message length exceeds administrative limit", 25, 0},
    {"relay-denied", A, REJ, 554, "5.7.1", "<x@example.org>: Relay access denied", 25, 0},
    {"policy-rejected", A, REJ, 550, "5.7.1",
     "Delivery not authorized, message refused", 25, 0},
    {"ptr-missing", A, REJ, 550, "5.7.25",
     "The IP address sending this message does not have a PTR record setup, or the "
     "corresponding forward DNS entry does not point to the sending IP.", 25, 0},
    {"greylisted", A, REJ, 450, "4.2.0",
     "<x@example.org>: Recipient address rejected: Greylisted, see "
     "http://postgrey.schweikert.ch/help/example.org.html", 25, 0},
    {"smtp-bad-sequence", S, MF_LAYER_PROTO, 503, "5.5.1",
     "Bad sequence of commands", 587, 0},
    {"smtp-421", S, REJ, 421, NULL,
     "mx.example.org Service not available, closing transmission channel", 587, 0},
    /* our own refusals */
    {"tls-no-starttls", S, TLS, 0, NULL,
     "the server did not offer STARTTLS; refusing to continue without TLS", 587, 0},
    {"starttls-refused", S, TLS, 0, NULL, "the server refused STARTTLS", 587, 0},
    {"auth-plaintext-refused", S, AUTH, 0, NULL,
     "refusing AUTH PLAIN without TLS: it would send the password in clear (use "
     "STARTTLS or TLS, or --allow-plaintext-auth)", 25, 0},
    {"smtp-no-esmtp", S, MF_LAYER_FEATURE, 0, NULL,
     "the server speaks only plain SMTP (no EHLO), so AUTH is impossible", 25, 0},
    /* transport */
    {"m365-port-465", S, TCP, 0, NULL,
     "connect to 52.96.0.1 port 465: Connection timed out", 465, 1},
    {"tls-injection", S, TLS, 0, NULL,
     "data received before the TLS handshake (possible response injection); refusing "
     "to continue", 587, 0},
    {"tls-hostname-mismatch", A, TLS, 0, NULL,
     "TLS handshake failed: certificate verify failed (hostname mismatch)", 465, 0},
    {"tls-cert-expired", A, TLS, 0, NULL,
     "TLS handshake failed: certificate verify failed (certificate has expired)", 465, 0},
    {"tls-cert-untrusted", A, TLS, 0, NULL,
     "TLS handshake failed: certificate verify failed (self-signed certificate)", 465, 0},
    {"tls-cafile", A, TLS, 0, NULL,
     "cannot load CA certificates from /etc/mf/ca.pem: No such file or directory", 465, 0},
    {"tls-wrong-version", A, TLS, 0, NULL,
     "TLS handshake failed: wrong version number", 587, 0},
    {"tls-protocol-version", A, TLS, 0, NULL,
     "TLS handshake failed: unsupported protocol", 465, 0},
    {"tls-handshake-closed", A, TLS, 0, NULL,
     "TLS handshake failed: connection closed by the server during the handshake", 465, 0},
    {"dns-timeout", A, DNS, 0, NULL,
     "could not resolve smtp.example.com: Timeout while contacting DNS servers", 587, 0},
    {"dns-not-found", A, DNS, 0, NULL,
     "could not resolve smtp.office356.com: Domain name not found", 587, 0},
    {"tcp-port25-blocked", A, TCP, 0, NULL,
     "connect to 203.0.113.7 port 25: Connection timed out", 25, 0},
    {"no-greeting", S, TCP, 0, NULL,
     "timed out after 15.0 s while waiting for the server's greeting", 465, 0},
    {"tcp-refused-587", S, TCP, 0, NULL,
     "connect to 203.0.113.7 port 587: Connection refused", 587, 0},
    {"tcp-refused", S, TCP, 0, NULL,
     "connect to 203.0.113.7 port 2525: Connection refused", 2525, 0},
    {"tcp-timeout", S, TCP, 0, NULL, "timed out after 15.0 s connecting", 587, 1},
    {"tcp-unreachable", S, TCP, 0, NULL,
     "connect to 2001:db8::1 port 587: Network is unreachable", 587, 0},
    {"tcp-closed", S, TCP, 0, NULL,
     "connection closed by the server while EHLO sent, waiting for the capabilities",
     587, 0},
    {"tls-timeout", S, TLS, 0, NULL,
     "timed out after 15.0 s during the TLS handshake", 587, 0},
    {"tls-failure", S, TLS, 0, NULL,
     "TLS handshake failed: sslv3 alert handshake failure", 587, 0},
    {"dns-failure", S, DNS, 0, NULL, "c-ares: Misformatted domain name", 587, 0},
    {"tcp-failure", S, TCP, 0, NULL, "connection error: Input/output error", 587, 0},
    /* IMAP and POP3 */
    {"m365-imap-auth-failed", I, AUTH, 0, NULL, "AUTHENTICATE failed.", 993, 1},
    {"m365-imap-login-failed", I, AUTH, 0, NULL, "LOGIN failed.", 993, 1},
    {"m365-imap-not-connected", I, MF_LAYER_PROTO, 0, NULL,
     "User is authenticated but not connected.", 993, 1},
    {"gmail-imap-disabled", I, AUTH, 0, NULL,
     "[ALERT] Your account is not enabled for IMAP use. Please visit your Gmail "
     "settings page and enable your account for IMAP access. (Failure)", 993, 0},
    {"gmail-imap-web-login", I, AUTH, 0, NULL,
     "[WEBALERT https://accounts.google.com/signin/continue?sarp=1] Web login "
     "required.", 993, 0},
    {"imap-too-many-connections", I, AUTH, 0, NULL,
     "[ALERT] Too many simultaneous connections. (Failure)", 993, 0},
    {"imap-auth-failed", I, AUTH, 0, NULL,
     "[AUTHENTICATIONFAILED] Invalid credentials (Failure)", 993, 0},
    {"imap-auth-generic", I, AUTH, 0, NULL,
     "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure "
     "connections.", 143, 0},
    {"m365-pop-logon-failure", P, AUTH, 0, NULL,
     "-ERR Logon failure: unknown user name or bad password.", 995, 1},
    {"gmail-pop-disabled", P, AUTH, 0, NULL,
     "-ERR [SYS/PERM] Your account is not enabled for POP access.", 995, 0},
    {"pop-auth-failed", P, AUTH, 0, NULL, "-ERR [AUTH] Authentication failed.", 995, 0},
    /* fallbacks */
    {"enh-5.1-address", A, REJ, 553, "5.1.3",
     "The recipient address <x> is not a valid RFC 5321 address.", 25, 0},
    {"enh-4.1-address", A, REJ, 450, "4.1.8",
     "<a@nowhere.invalid>: Sender address rejected: Domain not found", 25, 0},
    {"enh-5.2-mailbox", A, REJ, 550, "5.2.1",
     "The email account that you tried to reach is inactive.", 25, 0},
    {"enh-4.2-mailbox", A, REJ, 452, "4.2.2",
     "The recipient's inbox is out of storage space.", 25, 0},
    {"enh-5.3-system", A, REJ, 554, "5.3.0", "Other mail system problem", 25, 0},
    {"enh-4.3-system", A, REJ, 451, "4.3.0",
     "Mail server temporarily rejected message.", 25, 0},
    {"enh-5.4-routing", A, REJ, 554, "5.4.6",
     "Message exceeded 50 hops, this may indicate an email loop.", 25, 0},
    {"enh-4.4-routing", A, REJ, 451, "4.4.2", "Timeout - closing connection.", 25, 0},
    {"enh-5.5-protocol", A, REJ, 555, "5.5.2", "Syntax error.", 25, 0},
    {"enh-4.5-protocol", A, REJ, 452, "4.5.3",
     "Your message has too many recipients.", 25, 0},
    {"enh-5.6-content", A, REJ, 554, "5.6.0",
     "Email message is malformed. Not accepted.", 25, 0},
    {"enh-4.6-content", A, REJ, 451, "4.6.0", "Temporary content problem", 25, 0},
    {"enh-5.7-policy", A, REJ, 552, "5.7.0",
     "This message was blocked because its content presents a potential security "
     "issue.", 25, 0},
    {"enh-4.7-policy", A, REJ, 450, "4.7.1",
     "Client host rejected: cannot find your hostname", 25, 0},
    {"smtp-4xx", A, REJ, 451, NULL,
     "Requested action aborted: local error in processing", 25, 0},
    {"smtp-5xx", A, REJ, 550, NULL,
     "Requested action not taken: mailbox unavailable", 25, 0},
};

#define NLCASES (sizeof lcases / sizeof lcases[0])

static void test_case(void **state)
{
    const struct lcase *c = *state;
    struct explain_query q = {c->proto, c->layer, c->code, c->enh, c->text, c->port, c->ms};
    const struct explain_entry *e = explain_lookup(&q);
    if (!e || strcmp(e->id, c->want) != 0)
        fail_msg("want %s, got %s for \"%.60s\"", c->want, e ? e->id : "(none)", c->text);
}

/* Pasted text as a user copies it: the parsed codes and the row. */
struct tcase {
    const char *text;
    int code;
    const char *enh;
    const char *want;
};

static const struct tcase tcases[] = {
    {"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
     "the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
     535, "5.7.139", "m365-smtp-auth-disabled-tenant"},
    {"S: 535-5.7.8 Username and Password not accepted. For more information, go to\n"
     "S: 535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1sm47.29 - gsmtp\n",
     535, "5.7.8", "gmail-bad-credentials"},
    /* the phrase wraps across continuation lines and CRLFs */
    {"<- 534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1\r\n"
     "<- 534-5.7.14 q3-g0sHEOukbpSKaw3wUncbqc> Please log in via\r\n"
     "<- 534-5.7.14 your web browser and then try again.\r\n"
     "<- 534 5.7.14  https://support.google.com/mail/answer/78754 e131sm38.52 - gsmtp\r\n",
     534, "5.7.14", "gmail-web-login"},
    /* a whole session: the 5xx wins over 220/250/334 */
    {"<<< 220 BN6PR03CA0021.outlook.office365.com Microsoft ESMTP MAIL Service ready\n"
     ">>> EHLO host\n"
     "<<< 250-BN6PR03CA0021.outlook.office365.com Hello\n"
     "<<< 250 SMTPUTF8\n"
     ">>> AUTH LOGIN\n"
     "<<< 334 VXNlcm5hbWU6\n"
     "<<< 535 5.7.3 Authentication unsuccessful [BN6PR03CA0021.namprd03.prod.outlook.com]",
     535, "5.7.3", "m365-auth-unsuccessful"},
    {"[<-] 530 5.7.57 Client not authenticated to send mail.",
     530, "5.7.57", "m365-client-not-authenticated"},
    /* a Postfix log line: the code is in the middle */
    {"Nov 29 09:52:57 host postfix/smtp[29893]: C53C9141028: to=<a@b.example>, "
     "relay=b-example.mail.protection.outlook.com[104.47.8.36]:25, dsn=5.7.606, "
     "status=bounced (host b-example.mail.protection.outlook.com said: 550 5.7.606 "
     "Access denied, banned sending IP [185.234.72.45]. To request removal from this "
     "list please visit https://sender.office.com/ (in reply to RCPT TO command))",
     550, "5.7.606", "m365-banned-ip-range"},
    /* an exception message */
    {"smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted. "
     "Learn more at\n"
     "5.7.8  https://support.google.com/mail/?p=BadCredentials 4si12wrx.11 - gsmtp')",
     535, "5.7.8", "gmail-bad-credentials"},
    {"Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does "
     "not exist.", 550, "5.1.1", "recipient-unknown"},
    {"dsn=5.7.57, status=bounced", 0, "5.7.57", "m365-client-not-authenticated"},
    {"A1 NO [ALERT] Application-specific password required: "
     "https://support.google.com/accounts/answer/185833 (Failure)",
     0, "", "gmail-app-password"},
    {"* BAD User is authenticated but not connected.", 0, "", "m365-imap-not-connected"},
    {"connect to 40.99.10.50 port 587: Connection refused", 0, "", "tcp-refused"},
    {"Connection timed out", 0, "", "tcp-timeout"},
    {"SSL routines:ssl3_get_record:wrong version number", 0, "", "tls-wrong-version"},
    {"550 5.7.30 Basic authentication is not supported for Client Submission.",
     550, "5.7.30", "m365-basic-auth-retired"},
    {"421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected "
     "volume or user complaints - 4.16.55.1", 421, "4.7.0", "yahoo-deferred"},
    /* terminal colours and control bytes around a pasted reply */
    {"\x1b[31m535 5.7.3 Authentication unsuccessful\x1b[0m\x01\x02",
     0, "5.7.3", "m365-auth-unsuccessful"},
};

#define NTCASES (sizeof tcases / sizeof tcases[0])

static void test_text_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTCASES; i++) {
        const struct tcase *c = &tcases[i];
        int code = -1;
        char enh[16];
        memset(enh, 'x', sizeof enh);
        const struct explain_entry *e = explain_text(c->text, &code, enh);
        if (code != c->code || strcmp(enh, c->enh) != 0 || !e ||
            strcmp(e->id, c->want) != 0)
            fail_msg("case %zu: want %d %s %s, got %d %s %s", i, c->code, c->enh, c->want,
                     code, enh, e ? e->id : "(none)");
    }
}

static void test_table_well_formed(void **state)
{
    (void)state;
    size_t n = 0;
    const struct explain_entry *t = explain_table(&n);
    assert_non_null(t);
    assert_true(n >= 45);
    assert_ptr_equal(explain_table(NULL), t);
    for (size_t i = 0; i < n; i++) {
        const struct explain_entry *e = &t[i];
        assert_non_null(e->id);
        assert_true(e->id[0] && e->cause && e->cause[0] && e->fix && e->fix[0] &&
                    e->source && e->source[0]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[j].id, e->id) == 0)
                fail_msg("duplicate id %s", e->id);
        assert_true(e->code == 0 || (e->code >= 2 && e->code <= 5) ||
                    (e->code >= 200 && e->code <= 599));
        if (e->enhanced) {
            /* digits and dots, at most one range dash in the last part */
            const char *s = e->enhanced;
            assert_true(s[0] == '2' || s[0] == '4' || s[0] == '5');
            assert_int_equal(strspn(s, "0123456789.-"), strlen(s));
            const char *dash = strchr(s, '-');
            assert_true(!dash || (!strchr(dash, '.') && !strchr(dash + 1, '-')));
        }
        if (e->pattern) {
            size_t pl = strlen(e->pattern);
            assert_true(pl > 0 && e->pattern[0] != '|' && e->pattern[pl - 1] != '|');
            assert_null(strstr(e->pattern, "||"));
        }
    }
}

/* Every row has a documented reply above that finds it. */
static void test_every_row_has_a_case(void **state)
{
    (void)state;
    size_t n;
    const struct explain_entry *t = explain_table(&n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < NLCASES && !found; k++)
            found = strcmp(lcases[k].want, t[i].id) == 0;
        for (size_t k = 0; k < NTCASES && !found; k++)
            found = strcmp(tcases[k].want, t[i].id) == 0;
        if (!found)
            fail_msg("row %s has no test case", t[i].id);
    }
}

static const char *id_of(enum explain_proto proto, enum mf_layer layer, int code,
                         const char *enh, const char *text)
{
    struct explain_query q = {proto, layer, code, enh, text, 0, 0};
    const struct explain_entry *e = explain_lookup(&q);
    return e ? e->id : "(none)";
}

static void test_specific_beats_generic(void **state)
{
    (void)state;
    /* the same code with and without the telling words */
    assert_string_equal(id_of(S, AUTH, 535, "5.7.139", "disabled for the Tenant"),
                        "m365-smtp-auth-disabled-tenant");
    assert_string_equal(id_of(S, AUTH, 535, "5.7.139", "something new"),
                        "m365-smtp-auth-disabled");
    assert_string_equal(id_of(S, AUTH, 535, NULL, "Authentication failed"),
                        "smtp-auth-failed");
    assert_string_equal(id_of(S, AUTH, 535, "5.7.8", "Username and Password not accepted"),
                        "gmail-bad-credentials");
    /* Gmail's 5.7.30 (DKIM) is not Microsoft's 5.7.30 (Basic auth) */
    assert_string_equal(id_of(A, REJ, 550, "5.7.30", "bulk email senders: DKIM"),
                        "gmail-bulk-requirements");
    assert_string_equal(id_of(A, REJ, 550, "5.7.30", "no words"), "enh-5.7-policy");
    /* Gmail's 534 5.7.9 (app password) is not Yahoo's 554 5.7.9 (policy) */
    assert_string_equal(id_of(S, AUTH, 534, "5.7.9", "Application-specific password "
                                                      "required"),
                        "gmail-app-password");
    assert_string_equal(id_of(A, REJ, 554, "5.7.9", "Message not accepted"),
                        "yahoo-policy");
    /* the daily quota is not the sender's full mailbox, which is not the recipient's */
    assert_string_equal(id_of(S, REJ, 554, "5.2.2", "Submission quota exceeded"),
                        "m365-daily-recipient-limit");
    assert_string_equal(id_of(A, REJ, 552, "5.2.2", "Mailbox full"), "mailbox-full");
    /* a range row and its neighbours */
    assert_string_equal(id_of(A, REJ, 550, "5.7.605", "x"), "enh-5.7-policy");
    assert_string_equal(id_of(A, REJ, 550, "5.7.649", "x"), "m365-banned-ip-range");
    assert_string_equal(id_of(A, REJ, 550, "5.7.650", "x"), "enh-5.7-policy");
    assert_string_equal(id_of(A, REJ, 451, "4.7.699", "x"), "m365-temp-restricted");
    assert_string_equal(id_of(A, REJ, 451, "4.7.700", "x"), "enh-4.7-policy");
    /* a code with no enhanced code falls back by class only */
    assert_string_equal(id_of(A, REJ, 452, NULL, "x"), "smtp-4xx");
    assert_string_equal(id_of(A, REJ, 250, NULL, "ok"), "(none)");
}

static void test_enhanced_boundary(void **state)
{
    (void)state;
    /* "5.7.1" must not match "5.7.139", "5.7.13" or "5.7.10" */
    assert_string_equal(id_of(A, REJ, 550, "5.7.139", "Delivery not authorized"),
                        "m365-smtp-auth-disabled");
    assert_string_equal(id_of(A, REJ, 550, "5.7.13", "Delivery not authorized"),
                        "enh-5.7-policy");
    assert_string_equal(id_of(A, REJ, 550, "5.7.10", "Delivery not authorized"),
                        "enh-5.7-policy");
    assert_string_equal(id_of(A, REJ, 550, "5.7.1", "Delivery not authorized"),
                        "policy-rejected");
    /* "5.7.3" is not a prefix of "5.7.30"; "5.1.1" not of "5.1.10" */
    assert_string_equal(id_of(S, AUTH, 535, "5.7.30", "Authentication unsuccessful"),
                        "smtp-auth-failed");
    assert_string_equal(id_of(A, REJ, 550, "5.1.10", "x"), "m365-recipient-not-found");
    assert_string_equal(id_of(A, REJ, 550, "5.1.1", "x"), "recipient-unknown");
    /* "5.7" does not cover "5.77.1"; malformed codes count as none */
    assert_string_equal(id_of(A, REJ, 550, "5.77.1", "x"), "smtp-5xx");
    assert_string_equal(id_of(A, REJ, 550, "5.7.1399", "x"), "smtp-5xx");
    assert_string_equal(id_of(A, REJ, 550, "5..7", "x"), "smtp-5xx");
    assert_string_equal(id_of(A, REJ, 550, "5.7.", "x"), "smtp-5xx");
    assert_string_equal(id_of(A, REJ, 550, "", "x"), "smtp-5xx");
}

static const char *err_id(const struct mf_err *e, enum explain_proto proto, int port,
                          int ms)
{
    const struct explain_entry *x = explain_err(e, proto, port, ms);
    return x ? x->id : "(none)";
}

static void test_port_465_rule(void **state)
{
    (void)state;
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ETIMEOUT, MF_LAYER_TCP, "connect to %s port %d: %s", "52.96.0.1", 465,
               "Connection timed out");
    assert_string_equal(err_id(&e, S, 465, 1), "m365-port-465");
    assert_string_equal(err_id(&e, S, 465, 0), "tcp-timeout");     /* not Microsoft */
    assert_string_equal(err_id(&e, S, 587, 1), "tcp-timeout");     /* not 465 */
    assert_string_equal(err_id(&e, I, 465, 1), "tcp-timeout");     /* not SMTP */
    mf_err_set(&e, MF_ETLS, MF_LAYER_TLS, "TLS handshake failed: %s", "unexpected eof");
    assert_string_equal(err_id(&e, S, 465, 1), "m365-port-465");
    /* a reply from the server is explained by its code, whatever the port */
    mf_err_set(&e, MF_EAUTH, MF_LAYER_AUTH, "AUTH refused");
    mf_err_set_reply(&e, 535, "5.7.3", "Authentication unsuccessful", 27);
    assert_string_equal(err_id(&e, S, 587, 1), "m365-auth-unsuccessful");
}

static void test_explain_err_reads_reply_and_detail(void **state)
{
    (void)state;
    struct mf_err e;
    mf_err_clear(&e);
    assert_null(explain_err(NULL, S, 0, 0));
    assert_null(explain_err(&e, S, 0, 0));          /* no error, nothing to explain */
    mf_err_set(&e, MF_ETLS, MF_LAYER_TLS, "TLS handshake failed: wrong version number");
    assert_string_equal(err_id(&e, S, 587, 0), "tls-wrong-version");
    mf_err_set(&e, MF_ECLOSED, MF_LAYER_TCP, "connection closed by the server while %s",
               "end of data sent - the message may already be accepted");
    assert_string_equal(err_id(&e, S, 587, 0), "tcp-closed");
    /* a transport row never explains a server reply */
    mf_err_set(&e, MF_ETEMP, MF_LAYER_TCP, "timed out");
    mf_err_set_reply(&e, 451, "4.4.2", "Timeout - closing connection.", 29);
    assert_string_equal(err_id(&e, S, 587, 0), "enh-4.4-routing");
    /* our words in detail, the server's in reply */
    mf_err_clear(&e);
    mf_err_set(&e, MF_EFEATURE, MF_LAYER_FEATURE,
               "the server speaks only plain SMTP (no EHLO), so AUTH is impossible");
    mf_err_set_reply(&e, 250, NULL, "mx.example.org", 14);
    assert_string_equal(err_id(&e, S, 25, 0), "smtp-no-esmtp");
    mf_err_clear(&e);
    mf_err_set(&e, MF_EREJECT, MF_LAYER_REJECT, "the server refused recipient 1");
    const char *r = "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded";
    mf_err_set_reply(&e, 432, "4.3.2", r + 6, strlen(r + 6));
    assert_string_equal(err_id(&e, S, 587, 1), "m365-concurrent-limit");
}

static void test_unknown_fields_need_evidence(void **state)
{
    (void)state;
    struct explain_query q = {0};
    assert_null(explain_lookup(NULL));
    assert_null(explain_lookup(&q));                /* knows nothing, matches nothing */
    q.layer = MF_LAYER_TCP;
    assert_string_equal(explain_lookup(&q)->id, "tcp-failure");
    q.layer = MF_LAYER_NONE;
    q.text = "";
    assert_null(explain_lookup(&q));
    /* a layer-only row needs the layer; a pattern row does not */
    q.text = "Connection refused";
    assert_string_equal(explain_lookup(&q)->id, "tcp-refused");
    q.layer = MF_LAYER_AUTH;
    assert_null(explain_lookup(&q));        /* known to be AUTH: not a TCP failure */
    /* an IMAP-only row with no other criterion needs proto IMAP */
    struct explain_query im = {.layer = MF_LAYER_AUTH, .text = "NO something odd"};
    assert_null(explain_lookup(&im));
    im.proto = EXPLAIN_IMAP;
    assert_string_equal(explain_lookup(&im)->id, "imap-auth-generic");
}

static void test_text_outputs_optional(void **state)
{
    (void)state;
    const struct explain_entry *e = explain_text("552 5.3.4 Message too big", NULL, NULL);
    assert_non_null(e);
    assert_string_equal(e->id, "message-too-big");
    int code = 7;
    char enh[16] = "junk";
    assert_null(explain_text(NULL, &code, enh));
    assert_int_equal(code, 0);
    assert_string_equal(enh, "");
    assert_null(explain_text("", &code, enh));
    assert_null(explain_text("   \n\n\r\n", &code, enh));
    assert_null(explain_text("everything is fine", &code, enh));
    /* a 2xx reply is found but explains nothing */
    assert_null(explain_text("250 2.0.0 OK queued", &code, enh));
    assert_int_equal(code, 250);
    assert_string_equal(enh, "2.0.0");
    /* an IP address or a port is not a code */
    assert_null(explain_text("relay 5.57.1.2 port 465 said nothing", &code, enh));
    assert_int_equal(code, 0);
    assert_string_equal(enh, "");
}

static char *repeat(const char *unit, size_t total)
{
    char *s = malloc(total + 1);
    assert_non_null(s);
    size_t ul = strlen(unit);
    for (size_t i = 0; i < total; i++)
        s[i] = unit[i % ul];
    s[total] = '\0';
    return s;
}

static void test_hostile_text(void **state)
{
    (void)state;
    int code;
    char enh[16];
    const size_t big = (size_t)1 << 20;
    char *s = repeat("A", big);
    assert_null(explain_text(s, &code, enh));
    /* a reply beyond the examined window is not seen */
    memcpy(s + big - 40, "535 5.7.139 Authentication unsuccessful", 39);
    assert_null(explain_text(s, &code, enh));
    assert_int_equal(code, 0);
    struct explain_query q = {EXPLAIN_SMTP, MF_LAYER_NONE, 535, "5.7.139", s, 0, 0};
    assert_string_equal(explain_lookup(&q)->id, "m365-smtp-auth-disabled");
    free(s);

    s = repeat("5.5.5.5.", big);
    explain_text(s, &code, enh);
    assert_int_equal(code, 0);
    free(s);
    s = repeat("535-", big);
    const struct explain_entry *e = explain_text(s, &code, enh);
    assert_int_equal(code, 535);
    assert_string_equal(enh, "");
    assert_string_equal(e->id, "smtp-auth-failed");
    free(s);
    s = repeat("\n", big);
    assert_null(explain_text(s, &code, enh));
    free(s);
    s = repeat("S: <- <<< ", big);
    assert_null(explain_text(s, &code, enh));
    free(s);

    /* every byte value, and odd shapes near the parser's edges */
    char all[256];
    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    explain_text(all, &code, enh);
    static const char *const odd[] = {
        "5", "55", "535", "535-", "535 ", "535 5", "535 5.", "535 5.7", "535 5.7.",
        "535 5.7.1399", "999 9.9.9", "535 4.7.0 class mismatch", "S:", "<<<", "[<-]",
        "5.7.", ".5.7.1", "-1",
        "\r\n535\r\n", "b'5.7.8", "(535, b'", "535,,,,,,5.7.8", "\x7f\x80\xff",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        code = -1;
        explain_text(odd[i], &code, enh);
        assert_true(code == 0 || (code >= 200 && code <= 599));
        assert_true(strlen(enh) < sizeof enh);
    }
    explain_text("535 4.7.0 class mismatch", &code, enh);
    assert_int_equal(code, 535);
    assert_string_equal(enh, "");                   /* a 4.x code cannot ride a 5xx reply */
}

int main(void)
{
    static struct CMUnitTest tests[NLCASES + 16];
    size_t n = 0;
    for (size_t i = 0; i < NLCASES; i++)
        tests[n++] = (struct CMUnitTest){.name = lcases[i].want, .test_func = test_case,
                                         .initial_state = &lcases[i]};
#define ADD(f) tests[n++] = (struct CMUnitTest){.name = #f, .test_func = f}
    ADD(test_text_cases);
    ADD(test_table_well_formed);
    ADD(test_every_row_has_a_case);
    ADD(test_specific_beats_generic);
    ADD(test_enhanced_boundary);
    ADD(test_port_465_rule);
    ADD(test_explain_err_reads_reply_and_detail);
    ADD(test_unknown_fields_need_evidence);
    ADD(test_text_outputs_optional);
    ADD(test_hostile_text);
#undef ADD
    return _cmocka_run_group_tests("explain", tests, n, NULL, NULL);
}
