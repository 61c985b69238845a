"""The lab's SIP side: responses and in-dialog BYEs over one UDP socket, with their retransmissions.

Messages are parsed and built by ``lab.sipmsg``; this module sends them and resends the
ones UDP may lose (RFC 3261 17.2.1 for a final response to INVITE until the ACK, 17.1.2
for the lab's BYE until its response), on the event loop's own timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from harness.lab import sipmsg
from harness.lab.call import LabCall
from harness.sip.uri import hostport_of, uri_of

T1_S = 0.5  # RFC 3261's round-trip estimate: the first retransmission interval
T2_S = 4.0  # the longest retransmission interval
FINAL_TIMEOUT_S = 32.0  # 64*T1: a final response to INVITE is resent this long without an ACK
BYE_RETRANSMITS = 7
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"


class SipTransactions:
    """Sends the lab's SIP: provisional and final responses, BYE, and their retransmissions.

    ``final_done(call)`` is called when a final response to INVITE is no longer resent
    (ACKed or timed out), so the loop may forget the call.
    """

    def __init__(self, bind: str, port: int, final_done: Callable[[LabCall], None]) -> None:
        self.bind = bind
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self._final_done = final_done
        self._pending_bye: dict[str, asyncio.Task[None]] = {}

    def attach(self, transport: asyncio.DatagramTransport, port: int) -> None:
        """Send through ``transport``, bound to ``port`` (what Via and Contact name)."""
        self.transport = transport
        self.port = port

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram (dropped when the socket is closed)."""
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def contact(self) -> list[tuple[str, str]]:
        """The lab's Contact and Allow headers."""
        return [("contact", f"<sip:lab@{self.bind}:{self.port}>"), ("allow", ALLOW)]

    def provisional(self, call: LabCall, code: int, body: bytes = b"") -> None:
        """Send a 1xx to the call's INVITE (resent only when the INVITE is)."""
        data = sipmsg.response(call.invite, code, call.to_tag, self.contact(), body)
        call.last_response = data
        self.send(data, call.addr)

    def final(self, call: LabCall, code: int, body: bytes = b"") -> None:
        """Send the one final response to the call's INVITE, resent until the ACK."""
        if call.final_code is not None:
            return
        call.final_code = code
        extra = self.contact() if code < 300 else []
        data = sipmsg.response(call.invite, code, call.to_tag, extra, body)
        call.last_response = data
        self.send(data, call.addr)
        asyncio.get_running_loop().create_task(self._retransmit_final(call, data))

    async def _retransmit_final(self, call: LabCall, data: bytes) -> None:
        interval = T1_S
        waited = 0.0
        while not call.acked and waited < FINAL_TIMEOUT_S:
            await asyncio.sleep(interval)
            waited += interval
            if call.acked:
                break
            self.send(data, call.addr)
            interval = min(interval * 2, T2_S)
        self._final_done(call)

    def bye(self, call: LabCall) -> None:
        """Hang up an answered call: BYE to its Contact (or first loose route), resent until answered."""
        inv = call.invite
        contact = uri_of(inv.get("contact") or inv.get("from") or "")
        routes = inv.get_all("record-route")
        # a loose-routing proxy on the path gets the BYE; else the far end's Contact
        dest = hostport_of(uri_of(routes[0])) if routes and ";lr" in routes[0] else hostport_of(contact)
        to_hdr = inv.get("to") or ""
        data = sipmsg.request("BYE", contact, via_host=self.bind, via_port=self.port,
                              from_=f"{to_hdr};tag={call.to_tag}", to=inv.get("from") or "",
                              call_id=call.call_id, cseq=call.local_cseq, routes=routes)
        call.local_cseq += 1
        self.send(data, dest)
        self._pending_bye[call.call_id] = asyncio.get_running_loop().create_task(self._retransmit_bye(data, dest))

    async def _retransmit_bye(self, data: bytes, dest: tuple[str, int]) -> None:
        interval = T1_S
        for _ in range(BYE_RETRANSMITS):
            await asyncio.sleep(interval)
            self.send(data, dest)
            interval = min(interval * 2, T2_S)

    def on_response(self, msg: sipmsg.SipMessage) -> None:
        """A response reached the lab: a final one to its BYE ends that BYE's retransmission."""
        _, method = msg.cseq
        if method == "BYE" and (msg.status or 0) >= 200:
            task = self._pending_bye.pop(msg.call_id, None)
            if task:
                task.cancel()

    def close(self) -> None:
        """Stop resending BYEs and close the socket."""
        for task in self._pending_bye.values():
            task.cancel()
        if self.transport:
            self.transport.close()
