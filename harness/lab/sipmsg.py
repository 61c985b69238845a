"""Minimal SIP message parsing and building for the lab PBX (RFC 3261 subset, UDP).

Pure functions and data: no sockets, no clock. Enough of SIP for a UAS that
answers, rejects, streams media and hangs up, behind a proxy or not.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

_COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
            "c": "content-type", "k": "supported"}

REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 404: "Not Found",
    405: "Method Not Allowed", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}


@dataclass
class SipMessage:
    """A parsed SIP request or response; header names are kept lower-case, in order."""

    method: str | None  # for requests
    uri: str | None
    status: int | None  # for responses
    reason: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """All values of ``name``, comma-separated lists split (for Via, Route, Record-Route)."""
        name = name.lower()
        out: list[str] = []
        for k, v in self.headers:
            if k == name:
                out.extend(_split_commas(v))
        return out

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        raw = (self.get("cseq") or "0 NONE").split()
        return int(raw[0]), raw[1].upper() if len(raw) > 1 else ""

    @property
    def branch(self) -> str:
        vias = self.get_all("via")
        m = re.search(r";\s*branch=([^;,\s]+)", vias[0]) if vias else None
        return m.group(1) if m else ""


def _split_commas(value: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in value:
        if ch == '"':
            quote = not quote
        elif not quote and ch == "<":
            depth += 1
        elif not quote and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse(data: bytes) -> SipMessage | None:
    """Parse one UDP datagram; None when it is not a SIP message (e.g. a keep-alive)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    text = head.decode("utf-8", "replace")
    lines = re.split(r"\r?\n", text)
    if not lines or not lines[0].strip():
        return None
    start = lines[0].split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    if start[0].startswith("SIP/2.0") and len(start) >= 2 and start[1].isdigit():
        msg = SipMessage(None, None, int(start[1]), start[2] if len(start) > 2 else "", headers)
    elif len(start) == 3 and start[2].startswith("SIP/2.0"):
        msg = SipMessage(start[0].upper(), start[1], None, None, headers)
    else:
        return None
    length = msg.get("content-length")
    msg.body = body[: int(length)] if length and length.isdigit() else body
    return msg


_CANON = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}


def _canon(name: str) -> str:
    return _CANON.get(name) or "-".join(p.capitalize() for p in name.split("-"))


def render(start_line: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """Serialise a message; Content-Length is always set from ``body``."""
    out = [start_line]
    out += [f"{_canon(k)}: {v}" for k, v in headers if k != "content-length"]
    out.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(out) + "\r\n\r\n").encode() + body


def response(req: SipMessage, code: int, to_tag: str | None, extra: list[tuple[str, str]] | None = None,
             body: bytes = b"", reason: str | None = None) -> bytes:
    """Build a response to ``req``: Via, From, Call-ID, CSeq copied; To tagged when given."""
    hdrs: list[tuple[str, str]] = [("via", v) for v in req.get_all("via")]
    if code > 100 or req.method != "INVITE":
        hdrs += [("record-route", v) for v in req.get_all("record-route")] if 100 < code < 300 else []
    hdrs.append(("from", req.get("from") or ""))
    to = req.get("to") or ""
    if to_tag and ";tag=" not in to.replace(" ", "") and code > 100:
        to = f"{to};tag={to_tag}"
    hdrs += [("to", to), ("call-id", req.call_id), ("cseq", req.get("cseq") or "")]
    hdrs += extra or []
    if body:
        hdrs.append(("content-type", "application/sdp"))
    return render(f"SIP/2.0 {code} {reason or REASONS.get(code, 'Unknown')}", hdrs, body)


def tag_of(header: str) -> str | None:
    """The ``tag`` parameter of a From/To header value."""
    m = re.search(r";\s*tag=([^;>\s]+)", header)
    return m.group(1) if m else None


def new_tag() -> str:
    """A random tag or branch suffix."""
    return secrets.token_hex(6)


def request(method: str, uri: str, *, via_host: str, via_port: int, from_: str, to: str, call_id: str,
            cseq: int, routes: list[str], contact: str | None = None) -> bytes:
    """Build an in-dialog request (e.g. the lab's BYE)."""
    hdrs: list[tuple[str, str]] = [
        ("via", f"SIP/2.0/UDP {via_host}:{via_port};rport;branch=z9hG4bK{new_tag()}"),
        ("max-forwards", "70"),
    ]
    hdrs += [("route", r) for r in routes]
    hdrs += [("from", from_), ("to", to), ("call-id", call_id), ("cseq", f"{cseq} {method}")]
    if contact:
        hdrs.append(("contact", contact))
    return render(f"{method} {uri} SIP/2.0", hdrs)


@dataclass
class SdpOffer:
    """What the lab needs from a caller's SDP offer."""

    address: str
    port: int
    payload_types: list[int]
    telephone_event_pt: int | None


def parse_sdp(body: bytes) -> SdpOffer | None:
    """Parse the audio line of an SDP offer; None when there is no usable audio stream."""
    text = body.decode("utf-8", "replace")
    session_addr = None
    media_addr = None
    port = None
    pts: list[int] = []
    te: int | None = None
    in_audio = False
    for line in re.split(r"\r?\n", text):
        if (line.startswith("c=") and " IP4 " in line) or line.startswith("c=IN IP6"):
            addr = line.split()[-1]
            if in_audio:
                media_addr = addr
            elif session_addr is None:
                session_addr = addr
        elif line.startswith("m="):
            parts = line[2:].split()
            in_audio = parts[0] == "audio" and port is None
            if in_audio:
                port = int(parts[1])
                pts = [int(p) for p in parts[3:] if p.isdigit()]
        elif in_audio and line.startswith("a=rtpmap:") and "telephone-event/8000" in line.lower():
            te = int(line[9:].split()[0])
    addr = media_addr or session_addr
    if port is None or addr is None:
        return None
    return SdpOffer(addr, port, pts, te)


def build_sdp(address: str, port: int, payload_type: int, telephone_event_pt: int | None, session_id: int) -> bytes:
    """The lab's SDP answer: one G.711 codec (and telephone-event when offered)."""
    name = {0: "PCMU", 8: "PCMA"}[payload_type]
    pts = f"{payload_type}" + (f" {telephone_event_pt}" if telephone_event_pt is not None else "")
    lines = [
        "v=0", f"o=harness-lab {session_id} {session_id} IN IP4 {address}", "s=harness lab",
        f"c=IN IP4 {address}", "t=0 0", f"m=audio {port} RTP/AVP {pts}", f"a=rtpmap:{payload_type} {name}/8000",
    ]
    if telephone_event_pt is not None:
        lines += [f"a=rtpmap:{telephone_event_pt} telephone-event/8000", f"a=fmtp:{telephone_event_pt} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
