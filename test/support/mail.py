#!/usr/bin/python3
"""A real mail client for the system tests (stdlib only; run with /usr/bin/python3).

Reads ONE JSON object on stdin, prints ONE JSON object on stdout. Passwords travel in the
JSON, never on argv. Protocol failures (refused connection, TLS error, SMTP/IMAP/POP3
error reply) are answers, not crashes:

    {"ok": false, "error": "...", "code": <SMTP code | IMAP/POP3 response code | null>}

and exit 0. Only a broken request (unknown action, missing field) exits 2.

Every connection binds its source address to 127.0.0.2 (override with "source", or
"source": null for no binding), so that loopback trust in Postfix/Dovecot cannot hide a
relay or plaintext hole. Certificates are not verified unless "cafile" is given (then
the chain and the host name are checked).

Common fields: host, port, tls ("none" | "starttls" | "implicit"), cafile?, timeout?
(seconds, default 10), source?.

Actions:
  send             user?, password?, from, to: [...], subject?, body?, helo?, headers?, raw?
                   -> {ok, recipients: [{to, accepted, code, message}], refused: [...],
                       data: {code, message}, queue_id, message_id}
                   ok is true when DATA was accepted (for the accepted recipients).
  smtp_auth_probe  user, password, helo?
                   -> {ok: true, before_tls: Phase|null, after_tls: Phase|null}
                   Phase = {auth_advertised, mechanisms, starttls_advertised,
                            auth: {ok, code, message}}  (AUTH PLAIN is tried even when
                            not advertised; each phase is its own connection)
  imap_login       user, password -> {ok: true, capabilities, capabilities_before_login}
  imap_fetch       user, password, mailbox? ("INBOX") -> {ok: true, messages: [Msg]}
  pop3_fetch       user, password -> {ok: true, messages: [Msg]}
                   Msg = {subject, from, to, body, raw}; body is the text part with
                   LF line ends and trailing newlines stripped. Nothing is deleted;
                   imap_fetch uses EXAMINE + BODY.PEEK (flags untouched), pop3_fetch
                   uses RETR (Dovecot then marks those messages \\Seen at QUIT).
"""

import base64
import email
import email.policy
import imaplib
import json
import poplib
import re
import smtplib
import socket
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

DEFAULT_SOURCE = "127.0.0.2"
DEFAULT_HELO = "client.example.net"


class BadRequest(Exception):
    """The caller's mistake: exits non-zero."""


class Failure(Exception):
    """A protocol-level failure: reported as {"ok": false, ...}."""

    def __init__(self, error, code=None):
        super().__init__(error)
        self.error = error
        self.code = code


# --- plumbing ---------------------------------------------------------------------


def need(req, key):
    if key not in req or req[key] is None:
        raise BadRequest(f"missing field {key!r}")
    return req[key]


def tls_mode(req):
    mode = req.get("tls", "none")
    if mode not in ("none", "starttls", "implicit"):
        raise BadRequest(f"tls must be none, starttls or implicit, not {mode!r}")
    return mode


def tls_context(req):
    cafile = req.get("cafile")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def source_address(req):
    src = req.get("source", DEFAULT_SOURCE)
    return (src, 0) if src else None


def open_socket(host, port, timeout, source):
    return socket.create_connection((host, port), timeout, source_address=source)


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return text(value[0])
    return str(value)


def bracket_code(message):
    """'[AUTHENTICATIONFAILED] Authentication failed.' -> 'AUTHENTICATIONFAILED'."""
    m = re.search(r"\[([A-Z0-9-]+)[^\]]*\]", message)
    return m.group(1) if m else None


def crlf(data):
    return re.sub(rb"\r\n|\n|\r", b"\r\n", data)


def parse_message(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    body = body.replace("\r\n", "\n").rstrip("\n")

    def header(name):
        return str(msg[name]) if msg[name] is not None else None

    return {
        "subject": header("Subject"),
        "from": header("From"),
        "to": header("To"),
        "body": body,
        "raw": raw.decode("utf-8", "replace"),
    }


# --- SMTP -------------------------------------------------------------------------


def smtp_open(req, mode, starttls):
    """Connect, EHLO, and STARTTLS when asked; returns the smtplib object."""
    host, port = need(req, "host"), need(req, "port")
    helo = req.get("helo") or DEFAULT_HELO
    timeout = req.get("timeout", 10)
    if mode == "implicit":
        s = smtplib.SMTP_SSL(host, port, local_hostname=helo, timeout=timeout,
                             source_address=source_address(req), context=tls_context(req))
    else:
        s = smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout,
                         source_address=source_address(req))
    code, resp = s.ehlo()
    if code != 250:
        s.close()
        raise Failure(f"EHLO refused: {text(resp)}", code)
    if starttls:
        if not s.has_extn("starttls"):
            s.close()
            raise Failure("STARTTLS not advertised", None)
        s.starttls(context=tls_context(req))
        s.ehlo()
    return s


def build_message(req):
    if req.get("raw") is not None:
        raw = crlf(req["raw"].encode("utf-8"))
        m = re.search(rb"^Message-ID:\s*(\S+)", raw, re.I | re.M)
        return raw, (m.group(1).decode() if m else None)
    msg = EmailMessage()
    msg["From"] = need(req, "from") or "MAILER-DAEMON"
    msg["To"] = ", ".join(need(req, "to"))
    msg["Subject"] = req.get("subject", "test")
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="test.example.net")
    for name, value in (req.get("headers") or {}).items():
        msg[name] = value
    msg.set_content(req.get("body", ""))
    return msg.as_bytes(policy=email.policy.SMTP), msg["Message-ID"]


def action_send(req):
    mode = tls_mode(req)
    recipients_in = need(req, "to")
    if not isinstance(recipients_in, list) or not recipients_in:
        raise BadRequest("'to' must be a non-empty list")
    data, message_id = build_message(req)
    s = smtp_open(req, mode, starttls=(mode == "starttls"))
    try:
        if req.get("user"):
            s.login(req["user"], need(req, "password"))
        code, resp = s.mail(need(req, "from"))
        if code != 250:
            raise Failure(f"MAIL FROM refused: {text(resp)}", code)
        recipients = []
        for rcpt in recipients_in:
            code, resp = s.rcpt(rcpt)
            recipients.append({"to": rcpt, "accepted": code in (250, 251),
                               "code": code, "message": text(resp)})
        refused = [r for r in recipients if not r["accepted"]]
        result = {"recipients": recipients, "refused": refused, "data": None,
                  "queue_id": None, "message_id": message_id}
        if len(refused) == len(recipients):
            s.rset()
            return {"ok": False, "error": "all recipients refused",
                    "code": refused[-1]["code"], **result}
        try:
            code, resp = s.data(data)
        except smtplib.SMTPDataError as e:  # DATA itself (not 354)
            code, resp = e.smtp_code, e.smtp_error
        result["data"] = {"code": code, "message": text(resp)}
        if code != 250:
            return {"ok": False, "error": f"message refused: {text(resp)}", "code": code, **result}
        m = re.search(r"queued as ([0-9A-Za-z]+)", text(resp))
        result["queue_id"] = m.group(1) if m else None
        return {"ok": True, **result}
    finally:
        close_smtp(s)


def close_smtp(s):
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        s.close()


def auth_phase(s, user, password):
    mechanisms = (s.esmtp_features.get("auth") or "").upper().split()
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    try:
        code, resp = s.docmd("AUTH", "PLAIN " + token)
        auth = {"ok": code == 235, "code": code, "message": text(resp)}
    except smtplib.SMTPServerDisconnected as e:
        auth = {"ok": False, "code": None, "message": f"disconnected: {e}"}
    return {
        "auth_advertised": s.has_extn("auth"),
        "mechanisms": mechanisms,
        "starttls_advertised": s.has_extn("starttls"),
        "auth": auth,
    }


def action_smtp_auth_probe(req):
    mode = tls_mode(req)
    user, password = need(req, "user"), need(req, "password")
    before = after = None
    if mode in ("none", "starttls"):
        s = smtp_open(req, "none", starttls=False)
        try:
            before = auth_phase(s, user, password)
        finally:
            close_smtp(s)
    if mode == "implicit":
        s = smtp_open(req, "implicit", starttls=False)
        try:
            after = auth_phase(s, user, password)
        finally:
            close_smtp(s)
    elif mode == "starttls" and before["starttls_advertised"]:
        s = smtp_open(req, "none", starttls=True)
        try:
            after = auth_phase(s, user, password)
        finally:
            close_smtp(s)
    return {"ok": True, "before_tls": before, "after_tls": after}


# --- IMAP -------------------------------------------------------------------------


class BoundIMAP4(imaplib.IMAP4):
    def __init__(self, host, port, timeout, source):
        self._source = source
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout):
        return open_socket(self.host, self.port, timeout, self._source)


class BoundIMAP4_SSL(imaplib.IMAP4_SSL):
    def __init__(self, host, port, ssl_context, timeout, source):
        self._source = source
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = open_socket(self.host, self.port, timeout, self._source)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imap_open(req):
    """Connect (with STARTTLS if asked) and log in; returns (imap, capabilities before login)."""
    mode = tls_mode(req)
    host, port = need(req, "host"), need(req, "port")
    user, password = need(req, "user"), need(req, "password")
    timeout = req.get("timeout", 10)
    if mode == "implicit":
        m = BoundIMAP4_SSL(host, port, tls_context(req), timeout, source_address(req))
    else:
        m = BoundIMAP4(host, port, timeout, source_address(req))
    if mode == "starttls":
        m.starttls(tls_context(req))
    before = sorted(m.capabilities)
    try:
        m.login(user, password)
    except imaplib.IMAP4.error as e:
        message = text(e.args[0] if e.args else e)
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
        raise ImapLoginFailure(message, bracket_code(message), before) from None
    return m, before


class ImapLoginFailure(Failure):
    def __init__(self, error, code, capabilities):
        super().__init__(error, code)
        self.capabilities = capabilities


def imap_capabilities(m):
    typ, data = m.capability()
    return sorted(text(data[-1]).upper().split()) if typ == "OK" else []


def action_imap_login(req):
    try:
        m, before = imap_open(req)
    except ImapLoginFailure as e:
        return {"ok": False, "error": e.error, "code": e.code, "capabilities": e.capabilities}
    try:
        return {"ok": True, "capabilities": imap_capabilities(m), "capabilities_before_login": before}
    finally:
        m.logout()


def action_imap_fetch(req):
    m, _ = imap_open(req)
    try:
        mailbox = req.get("mailbox") or "INBOX"
        typ, data = m.select(mailbox, readonly=True)
        if typ != "OK":
            message = text(data)
            raise Failure(f"SELECT {mailbox}: {message}", bracket_code(message))
        typ, data = m.search(None, "ALL")
        messages = []
        for num in text(data).split():
            typ, parts = m.fetch(num, "(BODY.PEEK[])")
            raw = next(p[1] for p in parts if isinstance(p, tuple))
            messages.append(parse_message(raw))
        return {"ok": True, "messages": messages}
    finally:
        m.logout()


# --- POP3 -------------------------------------------------------------------------


class BoundPOP3(poplib.POP3):
    def __init__(self, host, port, timeout, source):
        self._source = source
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout):
        return open_socket(self.host, self.port, timeout, self._source)


class BoundPOP3_SSL(poplib.POP3_SSL):
    def __init__(self, host, port, context, timeout, source):
        self._source = source
        super().__init__(host, port, timeout=timeout, context=context)

    def _create_socket(self, timeout):
        sock = open_socket(self.host, self.port, timeout, self._source)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def action_pop3_fetch(req):
    mode = tls_mode(req)
    host, port = need(req, "host"), need(req, "port")
    user, password = need(req, "user"), need(req, "password")
    timeout = req.get("timeout", 10)
    if mode == "implicit":
        p = BoundPOP3_SSL(host, port, tls_context(req), timeout, source_address(req))
    else:
        p = BoundPOP3(host, port, timeout, source_address(req))
    try:
        if mode == "starttls":
            p.stls(tls_context(req))
        p.user(user)
        p.pass_(password)
        count, _size = p.stat()
        messages = []
        for i in range(1, count + 1):
            _resp, lines, _octets = p.retr(i)
            messages.append(parse_message(b"\r\n".join(lines) + b"\r\n"))
        return {"ok": True, "messages": messages}
    finally:
        try:
            p.quit()  # no DELE was sent: nothing is removed
        except (poplib.error_proto, OSError):
            p.close()


# --- main -------------------------------------------------------------------------

ACTIONS = {
    "send": action_send,
    "smtp_auth_probe": action_smtp_auth_probe,
    "imap_login": action_imap_login,
    "imap_fetch": action_imap_fetch,
    "pop3_fetch": action_pop3_fetch,
}


def run(req):
    if not isinstance(req, dict):
        raise BadRequest("stdin must hold one JSON object")
    action = ACTIONS.get(req.get("action"))
    if action is None:
        raise BadRequest(f"unknown action {req.get('action')!r}; one of {sorted(ACTIONS)}")
    where = f"{req.get('host')}:{req.get('port')}"
    try:
        return action(req)
    except Failure as e:
        return {"ok": False, "error": e.error, "code": e.code}
    except smtplib.SMTPResponseException as e:  # auth failed, sender refused, bad greeting...
        return {"ok": False, "error": text(e.smtp_error), "code": e.smtp_code}
    except smtplib.SMTPException as e:  # not supported, disconnected
        return {"ok": False, "error": f"smtp: {e}", "code": None}
    except imaplib.IMAP4.error as e:
        message = text(e.args[0] if e.args else e)
        return {"ok": False, "error": f"imap: {message}", "code": bracket_code(message)}
    except poplib.error_proto as e:
        message = text(e.args[0] if e.args else e)
        return {"ok": False, "error": f"pop3: {message}", "code": bracket_code(message)}
    except ssl.SSLError as e:
        return {"ok": False, "error": f"tls {where}: {e}", "code": None}
    except OSError as e:  # refused, unreachable, timeout
        reason = e.strerror or str(e) or type(e).__name__
        return {"ok": False, "error": f"connection to {where}: {reason}", "code": None}


def main():
    try:
        req = json.load(sys.stdin)
        result = run(req)
    except (BadRequest, json.JSONDecodeError) as e:
        print(f"mail.py: {e}", file=sys.stderr)
        sys.exit(2)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
