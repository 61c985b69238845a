"""The independent SIP peers (tests/peers.py) proven with SIPp as the client, without the harness.

What each test checks is what really happened on the wire (SIPp's message trace and the RTP
that arrived), never SIPp's exit code alone: a REGISTER refused with 403 still exits 0.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from pathlib import Path

import numpy as np
import peers
import pytest
import soundfile as sf
from needs import require

from harness.audio.g711 import ulaw_decode

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def _peers_installed() -> None:
    """Every test here runs SIPp and Kamailio (a fixture, not a module-level skip, so that CI
    can fail each test instead of aborting collection)."""
    require(bool(shutil.which("sipp") and shutil.which("kamailio")),
            "needs sipp and kamailio: sudo apt-get install -y sip-tester kamailio")


CALL_FLOW_UAC = ["sent: INVITE", "received: SIP/2.0 100", "received: SIP/2.0 180", "received: SIP/2.0 200",
                 "sent: ACK", "received: BYE", "sent: SIP/2.0 200"]
CALL_FLOW_UAS = ["received: INVITE", "sent: SIP/2.0 100", "sent: SIP/2.0 180", "sent: SIP/2.0 200",
                 "received: ACK", "sent: BYE", "received: SIP/2.0 200"]
PAUSE_TOL_S = 0.25
USER = "alice"


def make_password() -> str:
    """A throwaway digest password made at run time (never stored in the repository)."""
    return "t-" + secrets.token_hex(6)


@pytest.fixture
def ulaw_audio(tmp_path: Path) -> tuple[Path, bytes]:
    """A raw µ-law stream made from a WAV: 1 s of a 600 Hz tone, 0.2 s of silence."""
    t = np.arange(8000) / 8000
    pcm = np.concatenate([0.3 * np.sin(2 * np.pi * 600 * t), np.zeros(1600)])
    wav = tmp_path / "stream.wav"
    sf.write(wav, (pcm * 32767).astype(np.int16), 8000, subtype="PCM_16")
    path = peers.wav_to_ulaw(wav, tmp_path / "stream.ulaw")
    return path, path.read_bytes()


def test_sipp_uac_to_uas_call_streams_audio_and_uas_hangs_up(tmp_path: Path,
                                                             ulaw_audio: tuple[Path, bytes]) -> None:
    audio_path, audio = ulaw_audio
    pause_ms = 1500
    port, rtp_port = peers.free_udp_port(), peers.free_udp_port_pair()
    with peers.sipp_uas(port, audio_path, pause_ms, tmp_path) as uas:
        with peers.RtpSink(rtp_port) as sink:
            run = peers.run_sipp_uac(peers.UAC_CALL_SCENARIO, port, tmp_path,
                                     keys={"dial": "9501", "rtp_port": str(rtp_port)})
        uas_exit = uas.wait_exit(5)
        uas_msgs = uas.messages()
        log = uas.log()

    assert run.flow() == CALL_FLOW_UAC, run.log
    assert (run.exit_code, run.successful_calls, run.failed_calls) == (0, 1, 0), run.log
    assert uas_exit == 0 and peers.flow(uas_msgs) == CALL_FLOW_UAS, log
    ack, bye = uas_msgs[4], uas_msgs[5]
    assert (bye.at - ack.at).total_seconds() == pytest.approx(pause_ms / 1000, abs=PAUSE_TOL_S)

    # Every byte of the file arrived as PCMU in 20 ms packets (the last one may be short).
    assert {p.payload_type for p in sink.packets} == {0}
    assert len(sink.packets) == -(-len(audio) // 160)
    assert sink.audio() == audio
    assert np.abs(ulaw_decode(np.frombuffer(sink.audio()[:8000], np.uint8))).max() > 8000


def test_register_with_the_right_password_gets_200(tmp_path: Path) -> None:
    password = make_password()
    port = peers.free_udp_port()
    with peers.kamailio(port, peers.free_udp_port(), USER, password, tmp_path) as proxy:
        run = peers.run_sipp_uac(peers.UAC_REGISTER_SCENARIO, port, tmp_path, service=USER, auth=(USER, password))
        log = proxy.log()
    assert run.flow() == ["sent: REGISTER", "received: SIP/2.0 401", "sent: REGISTER", "received: SIP/2.0 200"], \
        run.log + log
    assert 'Digest username="alice"' in (run.messages[2].header("Authorization") or "")
    assert USER in (run.messages[3].header("Contact") or ""), "200 to REGISTER lists no binding"


def test_register_with_a_wrong_password_is_refused(tmp_path: Path) -> None:
    password = make_password()
    port = peers.free_udp_port()
    with peers.kamailio(port, peers.free_udp_port(), USER, password, tmp_path) as proxy:
        run = peers.run_sipp_uac(peers.UAC_REGISTER_SCENARIO, port, tmp_path, service=USER,
                                 auth=(USER, password + "-wrong"))
        log = proxy.log()
    assert run.flow()[:3] == ["sent: REGISTER", "received: SIP/2.0 401", "sent: REGISTER"], run.log + log
    assert run.flow()[3] in ("received: SIP/2.0 401", "received: SIP/2.0 403"), run.log + log
    # Why the flow is checked and not the exit code: SIPp reports success for a refused REGISTER.
    assert run.exit_code == 0


def test_invite_from_registered_user_is_authenticated_and_relayed_to_the_lab(
        tmp_path: Path, ulaw_audio: tuple[Path, bytes]) -> None:
    audio_path, audio = ulaw_audio
    password = make_password()
    port, lab_port, rtp_port = peers.free_udp_port(), peers.free_udp_port(), peers.free_udp_port_pair()
    with peers.kamailio(port, lab_port, USER, password, tmp_path) as proxy, \
            peers.sipp_uas(lab_port, audio_path, 1500, tmp_path) as lab:
        reg = peers.run_sipp_uac(peers.UAC_REGISTER_SCENARIO, port, tmp_path, service=USER, auth=(USER, password))
        assert reg.flow()[-1] == "received: SIP/2.0 200", reg.log + proxy.log()
        with peers.RtpSink(rtp_port) as sink:
            run = peers.run_sipp_uac(peers.UAC_CALL_SCENARIO, port, tmp_path, service=USER, auth=(USER, password),
                                     keys={"dial": "9501", "rtp_port": str(rtp_port)})
        lab.wait_exit(5)
        lab_msgs = lab.messages()
        log = proxy.log() + lab.log()

    assert run.flow() == ["sent: INVITE", "received: SIP/2.0 407", "sent: ACK", *CALL_FLOW_UAC], run.log + log
    assert peers.flow(lab_msgs) == CALL_FLOW_UAS, log
    invite = lab_msgs[0]
    assert invite.first_line == f"INVITE sip:9501@127.0.0.1:{lab_port} SIP/2.0"
    assert f"127.0.0.1:{port};lr" in (invite.header("Record-Route") or "")
    assert invite.header("Proxy-Authorization") is None, "credentials were forwarded to the lab"
    assert sink.audio() == audio


def test_invite_from_unregistered_user_is_refused(tmp_path: Path) -> None:
    password = make_password()
    port, lab_port = peers.free_udp_port(), peers.free_udp_port()
    with peers.kamailio(port, lab_port, USER, password, tmp_path) as proxy:
        run = peers.run_sipp_uac(peers.UAC_CALL_SCENARIO, port, tmp_path, service=USER, auth=(USER, password),
                                 keys={"dial": "9501", "rtp_port": str(peers.free_udp_port_pair())}, timeout_s=5)
        log = proxy.log()
    assert run.flow()[:4] == ["sent: INVITE", "received: SIP/2.0 407", "sent: ACK", "sent: INVITE"], run.log + log
    assert "received: SIP/2.0 403" in run.flow(), run.log + log
    assert run.successful_calls == 0


def test_peers_are_stopped_and_their_port_released(tmp_path: Path) -> None:
    port = peers.free_udp_port()
    with peers.kamailio(port, peers.free_udp_port(), USER, make_password(), tmp_path) as proxy:
        assert peers.udp_listening(port)
    assert proxy.proc.poll() is not None
    assert not peers.udp_listening(port)
    assert "signal 15 received" in proxy.log()  # stopped by SIGTERM, not killed

    with peers.sipp_uas(port, peers.ulaw_tone(tmp_path / "t.ulaw", 0.2), 100, tmp_path) as uas:
        assert peers.udp_listening(port)
    assert uas.proc.poll() is not None
    assert not peers.udp_listening(port)


def test_unknown_user_is_refused_without_a_challenge(tmp_path: Path) -> None:
    port = peers.free_udp_port()
    with peers.kamailio(port, peers.free_udp_port(), USER, make_password(), tmp_path) as proxy:
        run = peers.run_sipp_uac(peers.UAC_REGISTER_SCENARIO, port, tmp_path, service="mallory",
                                 auth=("mallory", make_password()))
        log = proxy.log()
    # (SIPp then aborts its scenario on the unexpected 403 and sends a stray BYE: ignore it.)
    assert run.flow()[:2] == ["sent: REGISTER", "received: SIP/2.0 403"], run.log + log
    assert run.successful_calls == 0


def test_a_peer_that_cannot_start_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        with (pytest.raises(peers.PeerError, match=rf"(?s)kamailio exited with \d+ before Kamailio answering "
                                                   rf"OPTIONS on 127.0.0.1:{port}/udp.*bind"),
              peers.kamailio(port, peers.free_udp_port(), USER, make_password(), tmp_path)):
            pass
