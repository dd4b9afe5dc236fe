#!/usr/bin/python3
"""Read a mail client configuration document the way the client does (stdlib parsers only).

    client-config.py thunderbird|autodiscover|mobileconfig < DOCUMENT

Prints one JSON object: {"ok": true, "servers": [{protocol, host, port, tls, username}], ...}
or {"ok": false, "error": "..."} when the document breaks a rule the client's reader enforces.

thunderbird:  Thunderbird's readFromXML (comm-central mailnews/.../readFromXML.sys.mjs):
              <clientConfig><emailProvider id=HOSTNAME> with at least one <domain>; every
              incomingServer type imap|pop3 and outgoingServer type smtp has hostname (a host
              name), port (1-65535), socketType plain|SSL|STARTTLS, username, and an
              authentication it knows. tls: "implicit" (SSL) | "starttls" | "none".
autodiscover: an Autodiscover POX answer (Outlook response schema 2006a): Account/Protocol
              entries with Type, Server, Port, LoginName, Encryption (SSL|TLS|None) or SSL on.
mobileconfig: an Apple configuration profile (plist): com.apple.mail.managed payloads.
"""

import json
import plistlib
import re
import sys
import xml.etree.ElementTree as ET

HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
AUTH = {"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM", "OAuth2", "client-IP-address", "TLS-client-cert", "none"}
SOCKET = {"plain": "none", "SSL": "implicit", "STARTTLS": "starttls"}
AD_NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OL_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


class Invalid(Exception):
    pass


def text(el, name):
    child = el.find(name)
    if child is None or child.text is None or child.text.strip() == "":
        raise Invalid(f"<{el.tag}> has no <{name}>")
    return child.text.strip()


def port(value):
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise Invalid(f"port {value!r} is not 1-65535")
    return int(value)


def hostname(value):
    if not HOSTNAME.match(value):
        raise Invalid(f"{value!r} is not a host name")
    return value


def thunderbird(data):
    root = ET.fromstring(data)
    if root.tag != "clientConfig":
        raise Invalid(f"root element is <{root.tag}>, not <clientConfig>")
    provider = root.find("emailProvider")
    if provider is None:
        raise Invalid("no <emailProvider>")
    hostname(provider.get("id", ""))
    domains = [hostname(d.text.strip()) for d in provider.findall("domain") if d.text]
    if not domains:
        raise Invalid("no <domain>")
    servers = []
    for tag, types in (("incomingServer", {"imap", "pop3"}), ("outgoingServer", {"smtp"})):
        for s in provider.findall(tag):
            kind = s.get("type")
            if kind not in types:
                raise Invalid(f"<{tag} type={kind!r}>")
            socket_type = text(s, "socketType")
            if socket_type not in SOCKET:
                raise Invalid(f"socketType {socket_type!r}")
            auth = [a.text.strip() for a in s.findall("authentication") if a.text]
            if not auth or not any(a in AUTH for a in auth):
                raise Invalid(f"{kind}: no known <authentication>")
            servers.append({
                "protocol": kind,
                "host": hostname(text(s, "hostname")),
                "port": port(text(s, "port")),
                "tls": SOCKET[socket_type],
                "username": text(s, "username"),
            })
    if not any(s["protocol"] != "smtp" for s in servers) or not any(s["protocol"] == "smtp" for s in servers):
        raise Invalid("needs an incoming and an outgoing server")
    return {"id": provider.get("id"), "domains": domains, "servers": servers}


def autodiscover(data):
    root = ET.fromstring(data)
    if root.tag != f"{AD_NS}Autodiscover":
        raise Invalid(f"root element is {root.tag}")
    response = root.find(f"{OL_NS}Response")
    if response is None:
        error = root.find(f"{AD_NS}Response/{AD_NS}Error/{AD_NS}ErrorCode")
        return {"error_code": error.text if error is not None else None, "servers": []}
    account = response.find(f"{OL_NS}Account")
    if account is None or text(account, f"{OL_NS}Action") != "settings":
        raise Invalid("no Account with Action settings")
    servers = []
    for p in account.findall(f"{OL_NS}Protocol"):
        encryption = p.find(f"{OL_NS}Encryption")
        enc = encryption.text.strip() if encryption is not None and encryption.text else ("SSL" if text(p, f"{OL_NS}SSL") == "on" else "None")
        tls = {"SSL": "implicit", "TLS": "starttls", "None": "none"}.get(enc)
        if tls is None:
            raise Invalid(f"Encryption {enc!r}")
        servers.append({
            "protocol": text(p, f"{OL_NS}Type").lower(),
            "host": hostname(text(p, f"{OL_NS}Server")),
            "port": port(text(p, f"{OL_NS}Port")),
            "tls": tls,
            "username": text(p, f"{OL_NS}LoginName"),
        })
    return {"servers": servers}


def mobileconfig(data):
    profile = plistlib.loads(data)
    if profile.get("PayloadType") != "Configuration":
        raise Invalid("PayloadType is not Configuration")
    servers = []
    for p in profile.get("PayloadContent", []):
        if p.get("PayloadType") != "com.apple.mail.managed":
            continue
        for side, proto in (("Incoming", "imap"), ("Outgoing", "smtp")):
            servers.append({
                "protocol": proto,
                "host": hostname(p[f"{side}MailServerHostName"]),
                "port": int(p[f"{side}MailServerPortNumber"]),
                "tls": "tls" if p.get(f"{side}MailServerUseSSL") else "none",
                "username": p[f"{side}MailServerUsername"],
            })
    keys = sorted({k for p in profile.get("PayloadContent", []) for k in p})
    return {"servers": servers, "payload_keys": keys, "uuid": profile.get("PayloadUUID")}


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    readers = {"thunderbird": thunderbird, "autodiscover": autodiscover, "mobileconfig": mobileconfig}
    if kind not in readers:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        result = {"ok": True, **readers[kind](sys.stdin.buffer.read())}
    except (Invalid, ET.ParseError, plistlib.InvalidFileException, KeyError, ValueError) as e:
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))


main()
