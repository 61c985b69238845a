"""SIP URIs, the one home of their parsing (pure, no I/O): what a user types where a SIP URI, a host
or an address belongs is checked here, and the parts of a URI read off the wire are taken apart here.

Every message is one line and echoes the value (shortened, control characters escaped),
except when the value carries a password: then nothing of it is echoed, since a
message ends up in terminals, CI logs and evidence.
"""

from __future__ import annotations

import ipaddress
import re

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A name that reads as a conventional variable name (HARNESS_SIP_PASSWORD), safe to repeat in a message.
# Mixed-case or underscore-free strings might be a pasted password, so they are never echoed.
_ECHOABLE_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_USER_CHARS = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%#]+$")  # RFC 3261 user, plus '#' as dialled
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_PARAMS = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/%:\[\]@]*$")
ECHO_MAX_CHARS = 80
PASSWORD_IN_URI = "a password in a SIP URI is not allowed (user:password@host)"


def echo(value: object, max_chars: int = ECHO_MAX_CHARS) -> str:
    """``repr`` of a value the user gave, on one line and at most about ``max_chars`` characters."""
    text = repr(value)
    if len(text) > max_chars:
        text = text[:max_chars] + f"... ({len(str(value))} characters)"
    return text


def has_password(uri: str) -> bool:
    """True when ``uri``'s userinfo holds a password (``sip:user:secret@host``, also without ``sip:``)."""
    body = uri.split(":", 1)[1] if uri.lower().startswith(("sip:", "sips:")) else uri
    userinfo = body.split("@", 1)[0] if "@" in body else ""
    return ":" in userinfo


def check_host(host: str) -> str | None:
    """Why ``host`` is not a hostname, an IPv4 address or a bracketed IPv6 address, or None when it is."""
    if not host:
        return "no host"
    if host.startswith("["):
        if not host.endswith("]"):
            return "a bad IPv6 host (expected [address])"
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return "a bad IPv6 host"
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "a bad IPv4 host"
        return None
    if len(host) > 253 or not _HOSTNAME.match(host):
        return "a bad host (expected a hostname, an IPv4 address or [IPv6])"
    return None


def _check_port(port: str) -> str | None:
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f"a bad port {echo(port)} (expected 1-65535)"
    return None


def split_hostport(hostport: str) -> tuple[str, str | None]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port or None); no checks."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return hostport, None
        rest = hostport[end + 1:]
        return hostport[:end + 1], (rest[1:] if rest.startswith(":") else (rest or None))
    if ":" in hostport:
        host, port = hostport.split(":", 1)
        return host, port
    return hostport, None


def _has_space_or_control(text: str) -> bool:
    return any(c.isspace() or not c.isprintable() for c in text)


def check_hostport(value: str) -> str:
    """Return ``value`` if it is ``host[:port]`` (no user, no scheme); ValueError with one line otherwise."""
    if _has_space_or_control(value):
        raise ValueError(f"{echo(value)} contains a space or control character (expected host[:port])")
    if "@" in value or value.startswith(("sip:", "sips:")):
        raise ValueError(f"{echo(value)} is not host[:port] (no user@ and no sip: here, e.g. 127.0.0.1:5060)")
    host, port = split_hostport(value)
    why = check_host(host) or (_check_port(port) if port is not None else None)
    if why:
        raise ValueError(f"{echo(value)} has {why}")
    return value


def check_sip_uri(value: str) -> str:
    """Return ``value`` if it is ``sip:[user@]host[:port][;params]`` (or sips:); ValueError otherwise.

    A password in the userinfo is refused without echoing any of the value.
    """
    if not value.startswith(("sip:", "sips:")):
        if has_password(value):
            raise ValueError(PASSWORD_IN_URI)
        raise ValueError(f"{echo(value)} is not a SIP URI (expected sip:user@host[:port])")
    if has_password(value):
        raise ValueError(PASSWORD_IN_URI)
    if _has_space_or_control(value):
        raise ValueError(f"{echo(value)} contains a space or control character")
    body = value.split(":", 1)[1]
    user: str | None = None
    if "@" in body:
        user, body = body.split("@", 1)
        if not user:
            raise ValueError(f"{echo(value)} has an empty user before '@'")
        if not _USER_CHARS.match(user):
            raise ValueError(f"{echo(value)} has characters not allowed in a SIP user")
    cut = min((i for i in (body.find(";"), body.find("?")) if i >= 0), default=len(body))
    hostport, params = body[:cut], body[cut:]
    host, port = split_hostport(hostport)
    why = check_host(host)
    if why is None and port is not None:
        why = _check_port(port)
    if why:
        raise ValueError(f"{echo(value)} has {why}")
    if not _PARAMS.match(params):
        raise ValueError(f"{echo(value)} has characters not allowed in URI parameters")
    return value


def check_ip(value: str) -> str:
    """Return ``value`` if it is an IPv4 or IPv6 address (a local address to bind); ValueError otherwise."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{echo(value)} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)") from None
    return value


def env_name_problem(value: str, option: str | None = None) -> str | None:
    """Why ``value`` cannot be the NAME of an environment variable (without echoing it), or None.

    ``option`` (e.g. ``--password-env``) starts the message; without it the message suits a
    ``file:line: field:`` prefix that already names the field.
    """
    if ENV_NAME.match(value):
        return None
    what = f"{option} takes" if option else "give"
    return (f"{what} the NAME of an environment variable (letters, digits, _; e.g. HARNESS_SIP_PASSWORD), "
            "not the password itself (the value given is not shown)")


def unset_env_message(value: str, option: str) -> str:
    """One line for an unset variable; the name is repeated only when it reads as a variable name."""
    if _ECHOABLE_ENV_NAME.match(value):
        return f"environment variable {value} (the SIP password, named by {option}) is not set"
    return (f"the environment variable named by {option} is not set; give the NAME of a variable that "
            "holds the password (e.g. HARNESS_SIP_PASSWORD), not the password itself "
            "(the value given is not shown)")


# -- taking apart URIs read off the wire (lenient: the peer's message is not the user's input) ----

def uri_of(header: str) -> str:
    """The URI inside a name-addr (``"x" <sip:a@b>;p`` -> ``sip:a@b``) or a bare addr-spec."""
    m = re.search(r"<([^>]*)>", header)
    return m.group(1) if m else header.split(";")[0].strip()


def user_of(uri: str) -> str:
    """The user part of a SIP URI (``sip:1001@host`` -> ``1001``), or '' when there is none."""
    m = re.match(r"sips?:([^@;>]+)@", uri.strip())
    return m.group(1) if m else ""


def hostport_of(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """Host and port of a SIP URI."""
    m = re.match(r"sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?", uri.strip())
    if not m:
        raise ValueError(f"not a SIP URI: {uri!r}")
    return m.group(1).strip("[]"), int(m.group(2)) if m.group(2) else default_port


def host_of(uri: str) -> str | None:
    """The host of a SIP URI, with or without its ``sip:`` scheme, for messages; None when there is none."""
    text = uri.strip()
    try:
        return hostport_of(text if re.match(r"sips?:", text) else f"sip:{text}")[0] or None
    except ValueError:
        return None
