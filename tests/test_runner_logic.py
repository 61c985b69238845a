"""Campaign logic with a scripted fake dialer (no SIP here: the SIP path is tested in test_campaign_run)."""

from __future__ import annotations

import errno
import json
import os
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from harness.campaign.config import Campaign
from harness.campaign.plan import (
    FAILURES_BEFORE_STOP,
    AbortPolicy,
    Attempt,
    Limiter,
    initial_attempts,
    next_attempt,
    plan_resume,
)
from harness.campaign.runner import Journal, resume_hint, run_campaign
from harness.clock import Clock, utc_iso
from harness.digest import sha256_file
from harness.errors import BadInput, InfraError
from harness.evidence import read_evidence, verify_evidence
from harness.vocab import CallEvent, CallRecord, CallSpec, DisconnectBy, Outcome


def campaign(**over: object) -> Campaign:
    data = {
        "campaign": "fake", "default_host": "127.0.0.1:5060",
        "hotlines": [{"id": "drop", "name": "Drops", "target": "1"}, {"id": "busy", "name": "Busy", "target": "2"},
                     {"id": "ok", "name": "Rejects", "target": "3"}],
        "concurrency": 3, "limits": {"per_hotline_concurrency": 1, "min_interval_s": 0, "calls_per_minute": 600},
        "redial": {"on": ["dropped_silent"], "max_attempts": 3, "delay_s": 0},
        "call": {"ring_timeout_s": 5, "max_hold_s": 10, "max_call_s": 30},
    }
    data.update(over)
    return Campaign.model_validate(data)


class FakeDialer:
    """Scripted: number 1 answers and hangs up (dropped_silent), 2 is busy, 3 rejects with 404."""

    def __init__(self, concurrency: int = 3, stop_after: int | None = None) -> None:
        self.concurrency, self.stop_after = concurrency, stop_after
        self.waiting: list[CallSpec] = []
        self.placed: list[CallSpec] = []
        self.max_per_target: Counter[str] = Counter()
        self.closed = False

    def __enter__(self) -> FakeDialer:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    @property
    def free_slots(self) -> int:
        return self.concurrency - len(self.waiting)

    def submit(self, spec: CallSpec) -> None:
        assert self.free_slots > 0
        self.waiting.append(spec)
        self.placed.append(spec)
        per = Counter(s.target for s in self.waiting)
        for t, n in per.items():
            self.max_per_target[t] = max(self.max_per_target[t], n)

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]:
        if self.stop_after is not None and len(self.placed) >= self.stop_after and not self.closed:
            raise KeyboardInterrupt  # Ctrl-C while calls are in progress
        if self.closed:  # the pool hangs up what is left and hands those records back
            out, self.waiting = [self._record(s) for s in self.waiting], []
            return out
        out = [self._record(s) for s in self.waiting[:1]]  # one call ends per collect
        self.waiting = self.waiting[1:]
        return out

    @staticmethod
    def _record(spec: CallSpec) -> CallRecord:
        number = spec.target.split(":")[1].split("@")[0]
        ev = [CallEvent(t_s=0.0, type="invite_sent")]
        if number == "1":
            return CallRecord(call_uid=spec.call_uid, target=spec.target, sip_call_id=spec.call_uid + "@x",
                              invite_at="2026-11-23T00:00:00.000Z", events=ev, answered_s=0.5, ended_s=2.0,
                              final_status=200, final_reason="OK", disconnect_by=DisconnectBy.REMOTE)
        if number == "9":  # nothing answers: our side (network, trunk) is broken
            return CallRecord(call_uid=spec.call_uid, target=spec.target, sip_call_id=spec.call_uid + "@x",
                              invite_at="2026-11-23T00:00:00.000Z", events=ev, ended_s=5.0,
                              error=f"no response from {spec.target} (4 INVITEs sent)")
        code = 486 if number == "2" else 404
        return CallRecord(call_uid=spec.call_uid, target=spec.target, sip_call_id=spec.call_uid + "@x",
                          invite_at="2026-11-23T00:00:00.000Z", events=ev, ended_s=0.1, final_status=code,
                          final_reason="x", disconnect_by=DisconnectBy.REMOTE)


def test_redial_policy() -> None:
    c = campaign()
    first = initial_attempts(c, 1)
    assert [(a.hotline_id, a.attempt, a.chain_id) for a in first] == [
        ("drop", 1, "r1-drop-1"), ("busy", 1, "r1-busy-1"), ("ok", 1, "r1-ok-1")]
    a2 = next_attempt(c, first[0], Outcome.DROPPED_SILENT, 100.0)
    assert a2 is not None and a2.attempt == 2 and a2.chain_id == "r1-drop-1" and a2.not_before_s == 100.0
    assert next_attempt(c, first[1], Outcome.BUSY, 0.0) is None
    third = Attempt(1, "drop", "sip:1@h", "r1-drop-1", 3)
    assert next_attempt(c, third, Outcome.DROPPED_SILENT, 0.0) is None  # max_attempts reached


def test_limiter_interval_concurrency_and_rate() -> None:
    lim = Limiter(per_hotline=1, min_interval_s=5.0, calls_per_minute=2)
    assert lim.wait_s("a", 0.0) == 0
    lim.started("a", 0.0)
    assert lim.wait_s("a", 1.0) == float("inf")  # one at a time
    lim.ended("a")
    assert lim.wait_s("a", 1.0) == pytest.approx(4.0)  # 5 s between starts
    assert lim.wait_s("b", 1.0) == 0
    lim.started("b", 1.0)
    assert lim.wait_s("c", 2.0) == pytest.approx(58.0)  # 2 per minute: wait for the first to age out
    assert lim.wait_s("c", 60.5) == 0


def test_run_with_fake_dialer_chains_and_limits(tmp_path: Path) -> None:
    c = campaign()
    dialer = FakeDialer()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    lines: list[str] = []
    result = run_campaign(c, camp_file, lambda: dialer, reports_root=tmp_path / "r",
                          recordings_root=tmp_path / "rec", progress=lines.append)
    rows = read_evidence(result.evidence)
    got = [(r["hotline_id"], r["attempt"], r["outcome"]) for r in rows]
    assert sorted(got) == sorted([("drop", "1", "dropped_silent"), ("drop", "2", "dropped_silent"),
                                  ("drop", "3", "dropped_silent"), ("busy", "1", "busy"), ("ok", "1", "rejected")])
    assert max(dialer.max_per_target.values()) == 1
    assert verify_evidence(result.evidence, check_recordings=False).ok
    assert lines[-1].startswith("[5/5]") and "left" in lines[-1]
    with pytest.raises(BadInput, match="--resume"):  # never mixes a new run into old evidence
        run_campaign(c, camp_file, FakeDialer, reports_root=tmp_path / "r", recordings_root=tmp_path / "rec")


def test_interrupt_then_resume_completes_without_duplicates(tmp_path: Path) -> None:
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    kw = {"reports_root": tmp_path / "r", "recordings_root": tmp_path / "rec", "progress": lambda _: None}
    first = run_campaign(c, camp_file, lambda: FakeDialer(stop_after=4), **kw)
    assert first.interrupted and first.cut_off >= 1
    camp_file.write_text("campaign: fake  # edited\n")
    with pytest.raises(BadInput, match="changed since this run started"):
        run_campaign(c, camp_file, FakeDialer, resume=True, **kw)
    camp_file.write_text("campaign: fake\n")
    resumed = run_campaign(c, camp_file, FakeDialer, resume=True, **kw)
    rows = read_evidence(resumed.evidence)
    assert len({r["call_uid"] for r in rows}) == len(rows)
    done = [(r["hotline_id"], r["attempt"]) for r in rows if not r["note"].startswith("cut off")]
    assert sorted(done) == [("busy", "1"), ("drop", "1"), ("drop", "2"), ("drop", "3"), ("ok", "1")]
    assert all(r["outcome"] == "error" for r in rows if r["note"].startswith("cut off"))
    assert verify_evidence(resumed.evidence, check_recordings=False).ok


def test_run_stops_when_every_call_fails(tmp_path: Path) -> None:
    hotlines = [{"id": f"h{i}", "name": f"H{i}", "target": "9"} for i in range(8)]
    c = campaign(hotlines=hotlines)
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    dialer = FakeDialer()
    with pytest.raises(InfraError, match=r"first 5 calls all failed.*no response.*--resume"):
        run_campaign(c, camp_file, lambda: dialer, reports_root=tmp_path / "r", recordings_root=tmp_path / "rec",
                     progress=lambda _: None)
    rows = read_evidence(tmp_path / "r" / "fake" / "evidence.csv")
    assert len(dialer.placed) < 8 and len(rows) == len(dialer.placed)  # stopped early, nothing lost
    assert all(r["outcome"] == "error" for r in rows)
    assert verify_evidence(tmp_path / "r" / "fake" / "evidence.csv", check_recordings=False).ok


def test_failures_after_a_success_do_not_stop_the_run(tmp_path: Path) -> None:
    hotlines = [{"id": "ok", "name": "Rejects", "target": "3"}] + \
        [{"id": f"h{i}", "name": f"H{i}", "target": "9"} for i in range(6)]
    c = campaign(hotlines=hotlines, concurrency=1)
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    result = run_campaign(c, camp_file, lambda: FakeDialer(concurrency=1), reports_root=tmp_path / "r",
                          recordings_root=tmp_path / "rec", progress=lambda _: None)
    assert result.rows == 7 and result.outcomes["error"] == 6


# -- resume: the journal's header (campaign file, host) -----------------------------------------------------

def _kw(tmp_path: Path, lines: list[str] | None = None) -> dict:
    return {"reports_root": tmp_path / "r", "recordings_root": tmp_path / "rec",
            "progress": (lines.append if lines is not None else (lambda _: None))}


def _killed_run(tmp_path: Path, c: Campaign, camp_file: Path, **kw: object) -> None:
    """A run stopped mid-way, then its manifest removed: what a kill -9 leaves (no manifest yet)."""
    first = run_campaign(c, camp_file, lambda: FakeDialer(stop_after=4), **_kw(tmp_path), **kw)
    assert first.interrupted
    (tmp_path / "r" / "fake" / "manifest.json").unlink()


def test_resume_checks_the_campaign_file_without_a_manifest(tmp_path: Path) -> None:
    """Issue 12: after a kill -9 there was no manifest, so an edited campaign file was accepted."""
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    _killed_run(tmp_path, c, camp_file)
    journal = (tmp_path / "r" / "fake" / "attempts.jsonl").read_text().splitlines()
    header = json.loads(journal[0])
    assert header["type"] == "run" and header["campaign_file_sha256"] == sha256_file(camp_file)
    assert header["host"] is None and header["campaign"] == "fake"
    camp_file.write_text("campaign: fake\nredial: {max_attempts: 1}\n")
    with pytest.raises(BadInput, match=r"c\.yaml changed since this run started .*attempts\.jsonl"):
        run_campaign(c, camp_file, FakeDialer, resume=True, **_kw(tmp_path))
    camp_file.write_text("campaign: fake\n")
    resumed = run_campaign(c, camp_file, FakeDialer, resume=True, **_kw(tmp_path))
    assert not resumed.interrupted
    rows = read_evidence(resumed.evidence)
    cut = {(r["chain_id"], r["attempt"]) for r in rows if r["note"].startswith("cut off")}
    redone = {(r["chain_id"], r["attempt"]) for r in rows if not r["note"].startswith("cut off")}
    assert cut and cut <= redone  # every cut-off attempt was placed again


def test_resume_reuses_the_recorded_host_and_refuses_another(tmp_path: Path) -> None:
    """Issue 12: the resume hint dropped --host, and following it dialled the campaign's default host."""
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    first = run_campaign(c, camp_file, lambda: FakeDialer(stop_after=4), host="127.0.0.1:5099", **_kw(tmp_path))
    assert first.interrupted and "--resume --host 127.0.0.1:5099" in first.resume_hint
    with pytest.raises(BadInput, match=r"--host 127\.0\.0\.1:5077 differs .*--host 127\.0\.0\.1:5099.*--change-host"):
        run_campaign(c, camp_file, FakeDialer, resume=True, host="127.0.0.1:5077", **_kw(tmp_path))
    with pytest.raises(BadInput, match="--change-host applies to --resume only"):
        run_campaign(c, camp_file, FakeDialer, change_host=True, host="127.0.0.1:5077", **_kw(tmp_path))
    lines: list[str] = []
    dialer = FakeDialer(stop_after=2)
    again = run_campaign(c, camp_file, lambda: dialer, resume=True, **_kw(tmp_path, lines))
    assert again.interrupted and again.host == "127.0.0.1:5099"
    assert "resume: dialling 127.0.0.1:5099 as this run did" in "\n".join(lines)
    assert dialer.placed and all(s.target.endswith("@127.0.0.1:5099") for s in dialer.placed)
    # told to: the change is dialled, and recorded in the journal and the manifest
    dialer = FakeDialer()
    changed = run_campaign(c, camp_file, lambda: dialer, resume=True, host="127.0.0.1:5077", change_host=True,
                           **_kw(tmp_path))
    assert not changed.interrupted and all(s.target.endswith("@127.0.0.1:5077") for s in dialer.placed)
    out = tmp_path / "r" / "fake"
    resumes = [json.loads(x) for x in (out / "attempts.jsonl").read_text().splitlines() if '"resume"' in x]
    assert [(r["host"], r["host_changed_from"]) for r in resumes] == [
        ("127.0.0.1:5099", None), ("127.0.0.1:5077", "127.0.0.1:5099")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sip_host"] == "127.0.0.1:5077" and manifest["sip_host_changed_from"] == "127.0.0.1:5099"
    # the next resume goes on with the host changed to, not the first one
    with pytest.raises(BadInput, match=r"--host 127\.0\.0\.1:5099 differs"):
        run_campaign(c, camp_file, FakeDialer, resume=True, host="127.0.0.1:5099", **_kw(tmp_path))


def test_resume_refuses_a_journal_without_header(tmp_path: Path) -> None:
    """A journal from before the header: its campaign file and host cannot be checked, so no resume."""
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    _killed_run(tmp_path, c, camp_file)
    journal = tmp_path / "r" / "fake" / "attempts.jsonl"
    journal.write_text("".join(x + "\n" for x in journal.read_text().splitlines()[1:]))  # the old format
    with pytest.raises(BadInput, match=r"attempts.jsonl has no run header"):
        run_campaign(c, camp_file, FakeDialer, resume=True, **_kw(tmp_path))
    # and a new run never appends to a journal it finds
    (tmp_path / "r" / "fake" / "evidence.csv").unlink()
    with pytest.raises(BadInput, match=r"attempts.jsonl exists: use --resume"):
        run_campaign(c, camp_file, FakeDialer, **_kw(tmp_path))


def test_journal_line_after_a_cut_line_is_kept(tmp_path: Path) -> None:
    """A kill in the middle of a journal line left no newline; the next line was glued to it and lost."""
    path = tmp_path / "attempts.jsonl"
    path.write_text('{"type": "run", "campaign_file_sha256": "x", "host": null}\n{"type": "attempt", "call_u')
    journal = Journal(path)
    journal.write(Attempt(1, "drop", "sip:1@h", "r1-drop-1", 2), "r1-drop-1-a2-abcdef")
    journal.close()
    contents = Journal.read(path)
    assert contents.header is not None and [a["call_uid"] for a in contents.attempts] == ["r1-drop-1-a2-abcdef"]


def test_resume_hint_names_host_and_folders() -> None:
    assert resume_hint(Path("s/c.yaml"), None, Path("reports"), Path("recordings")) == \
        "harness run s/c.yaml --resume"
    assert resume_hint(Path("s/c.yaml"), "10.0.0.1:5070", Path("/tmp/my r"), Path("recordings")) == \
        "harness run s/c.yaml --resume --host 10.0.0.1:5070 --reports '/tmp/my r'"


# -- every call failing, however few --------------------------------------------------------------------------

def test_a_small_run_whose_every_call_fails_is_an_infrastructure_failure(tmp_path: Path) -> None:
    """Issue 12: 4 calls (fewer than the early stop's max(5, concurrency)) all failing exited 0."""
    hotlines = [{"id": f"h{i}", "name": f"H{i}", "target": "9"} for i in range(3)]
    c = campaign(hotlines=hotlines)
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    with pytest.raises(InfraError, match=r"all 3 calls placed failed and none got through \(call failed: no response"):
        run_campaign(c, camp_file, FakeDialer, **_kw(tmp_path))
    rows = read_evidence(tmp_path / "r" / "fake" / "evidence.csv")
    assert len(rows) == 3 and all(r["outcome"] == "error" for r in rows)
    manifest = json.loads((tmp_path / "r" / "fake" / "manifest.json").read_text())
    assert manifest["evidence"]["rows"] == 3


# -- disk full ----------------------------------------------------------------------------------------------

def _fill_disk(monkeypatch: pytest.MonkeyPatch, names: set[str], after_writes: int,
               manifests_fit: int = 1) -> None:
    """From the ``after_writes``-th write on to a file named in ``names``, the disk is full: that write
    puts half its bytes down (as a real write at the end of the space does), the next raises ENOSPC.
    ``manifest.json.tmp`` in ``names``: after ``manifests_fit`` manifests (1: the one a run writes at
    its start), the manifest's temporary file is created, then its write fails."""
    real_write = os.write
    real_write_text = Path.write_text
    seen = Counter[str]()

    def write(fd: int, data: bytes | memoryview) -> int:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        if name in names:
            seen[name] += 1
            if seen[name] == after_writes and len(data) > 1:
                return real_write(fd, bytes(data[: len(data) // 2]))
            if seen[name] > after_writes:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def write_text(self: Path, *args: object, **kwargs: object) -> int:
        seen[f"text:{self.name}"] += 1
        if self.name in names and seen[f"text:{self.name}"] > manifests_fit:
            self.touch()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize(("full", "manifest_fits"), [
    ("evidence.csv", True), ("attempts.jsonl", True), ("evidence.csv", False)])
def test_disk_full_stops_with_one_line_keeps_rows_and_leaves_no_litter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: str, manifest_fits: bool) -> None:
    """Issue 12: a full disk gave five chained ENOSPC tracebacks, exit 1, no manifest and a 0-byte
    manifest.json.tmp. Now: InfraError (exit 3) in one line naming the file, the rows written intact,
    the manifest written as interrupted when it fits, no temporary file, and --resume completes the run."""
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    out = tmp_path / "r" / "fake"
    # evidence: the header and 2 rows fit; journal: the header and 2 attempts fit
    _fill_disk(monkeypatch, {full} | (set() if manifest_fits else {"manifest.json.tmp"}), after_writes=4)
    with pytest.raises(InfraError) as err:
        run_campaign(c, camp_file, FakeDialer, **_kw(tmp_path))
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{out / full}: no space left on device")
    assert "--resume" in message
    assert verify_evidence(out / "evidence.csv", check_recordings=False).ok  # whole rows only, chain intact
    assert not (out / "manifest.json.tmp").exists()
    if manifest_fits:
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["interrupted"] is True and "manifest written as interrupted" in message
        assert manifest["evidence"]["rows"] == len(read_evidence(out / "evidence.csv"))
    else:  # the manifest written at the start stays, saying the run did not finish
        assert json.loads((out / "manifest.json").read_text())["state"] == "running"
        assert "manifest not written" in message
    monkeypatch.undo()  # space freed
    resumed = run_campaign(c, camp_file, FakeDialer, resume=True, **_kw(tmp_path))
    rows = read_evidence(resumed.evidence)
    done = sorted((r["hotline_id"], r["attempt"]) for r in rows if not r["note"].startswith("cut off"))
    assert done == [("busy", "1"), ("drop", "1"), ("drop", "2"), ("drop", "3"), ("ok", "1")]
    assert verify_evidence(resumed.evidence, check_recordings=False).ok


def test_a_manifest_that_does_not_fit_fails_a_finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call recorded but no room for the manifest: exit 3 (it was a warning and exit 0), no temporary
    file; the resume, with space again, has nothing to call and writes the manifest."""
    c = campaign()
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    out = tmp_path / "r" / "fake"
    _fill_disk(monkeypatch, {"manifest.json.tmp"}, after_writes=0)
    with pytest.raises(InfraError, match=r"manifest\.json: no space left on device: every call is recorded .*"
                                         r"manifest is not written; free space, then run  harness run .* --resume"):
        run_campaign(c, camp_file, FakeDialer, **_kw(tmp_path))
    assert json.loads((out / "manifest.json").read_text())["state"] == "running"  # the start's, unfinished
    assert not (out / "manifest.json.tmp").exists()
    monkeypatch.undo()
    dialer = FakeDialer()
    again = run_campaign(c, camp_file, lambda: dialer, resume=True, **_kw(tmp_path))
    assert not dialer.placed and again.rows == 5
    assert json.loads((out / "manifest.json").read_text())["evidence"]["rows"] == 5


class FilesDialer(FakeDialer):
    """As FakeDialer, and each call leaves its timeline and SIP log in spec.out_dir, as a worker does
    (no recording: these calls have no media). It notes the manifest's state while calls are placed."""

    def __init__(self, manifest: Path) -> None:
        super().__init__()
        self.manifest, self.states_seen = manifest, set[str]()

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]:
        self.states_seen.add(json.loads(self.manifest.read_text())["state"])
        records = super().collect(timeout_s)
        for rec in records:
            out = next(s.out_dir for s in self.placed if s.call_uid == rec.call_uid)
            (out / f"{rec.call_uid}.events.json").write_text(rec.model_dump_json(indent=1))
            (out / f"{rec.call_uid}.sip.log").write_text(f"--- out\nINVITE\nCall-ID: {rec.sip_call_id}\n")
        return records


def test_every_file_of_a_call_is_hashed_and_the_manifest_says_running_until_the_end(tmp_path: Path) -> None:
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    manifest = tmp_path / "r" / "fake" / "manifest.json"
    dialer = FilesDialer(manifest)
    result = run_campaign(campaign(), camp_file, lambda: dialer, reports_root=tmp_path / "r",
                          recordings_root=tmp_path / "rec", progress=lambda _: None)
    assert dialer.states_seen == {"running"}  # written when the run started: a kill leaves it so
    rows = read_evidence(result.evidence)
    assert rows and all(r["events"] == f"../../rec/fake/{r['call_uid']}.events.json" for r in rows)
    assert all(r["events_sha256"] and r["sip_log_sha256"] for r in rows)  # busy and rejected calls too
    data = json.loads(manifest.read_text())
    assert (data["state"], data["recordings"], data["evidence"]["rows"]) == ("finished", "../../rec/fake", len(rows))
    check = verify_evidence(result.evidence)  # files checked: folder, names, hashes, timelines
    assert check.ok and check.state == "finished", check.message
    sip_log = tmp_path / "rec" / "fake" / f"{rows[0]['call_uid']}.sip.log"
    sip_log.write_text(sip_log.read_text() + "forged\n")
    assert "does not match sip_log_sha256" in verify_evidence(result.evidence).message


# -- the plan, pure: resume and abort policy ---------------------------------------------------------------

def _row(uid: str, round_no: int, hotline: str, attempt: int, outcome: str, note: str = "") -> dict[str, str]:
    return {"call_uid": uid, "round": str(round_no), "hotline_id": hotline, "chain_id": f"r{round_no}-{hotline}-1",
            "attempt": str(attempt), "outcome": outcome, "note": note}


def test_plan_resume_says_what_is_done_cut_off_and_next() -> None:
    c = campaign()
    rows = [_row("u1", 1, "drop", 1, "dropped_silent"), _row("u2", 1, "busy", 1, "busy"),
            _row("u3", 1, "drop", 2, "error", note="cut off (interrupted)")]
    journal = [{"call_uid": u, "round": 1, "hotline_id": h, "target": "sip:1@h", "chain_id": f"r1-{h}-1",
                "attempt": a} for u, h, a in [("u1", "drop", 1), ("u2", "busy", 1), ("u3", "drop", 2),
                                              ("u4", "ok", 1), ("u4", "ok", 1)]]
    plan = plan_resume(rows, journal)
    assert plan.outcomes == Counter({"dropped_silent": 1, "busy": 1, "error": 1})
    assert [(x.call_uid, x.attempt.hotline_id, x.attempt.attempt) for x in plan.cut_off] == [("u4", "ok", 1)]
    pending = plan.pending(c, None, 50.0)
    # drop: attempt 2 was cut off, so it is placed again; busy ended its chain; ok never got a row
    assert [(a.hotline_id, a.attempt, a.not_before_s) for a in pending] == [("drop", 2, 50.0), ("ok", 1, 0.0)]
    assert [a.round for a in plan.pending(c, [2], 0.0)] == [2, 2, 2]
    fresh = plan_resume([], [])
    assert not fresh.cut_off and fresh.pending(c, None, 0.0) == initial_attempts(c, 1)


def test_abort_policy_first_calls_failing_and_all_failing() -> None:
    policy = AbortPolicy(concurrency=2)
    assert not policy.all_failed  # nothing ended yet
    stops = [policy.ended(Outcome.ERROR, f"no response {i}") for i in range(FAILURES_BEFORE_STOP)]
    assert stops == [False] * (FAILURES_BEFORE_STOP - 1) + [True] and policy.all_failed
    wide = AbortPolicy(concurrency=FAILURES_BEFORE_STOP + 2)  # a burst as wide as the pool may all fail first
    assert not any(wide.ended(Outcome.ERROR, "x") for _ in range(FAILURES_BEFORE_STOP + 1))
    assert wide.ended(Outcome.ERROR, "x")
    through = AbortPolicy(concurrency=1)
    through.ended(Outcome.ERROR, "x")
    through.ended(Outcome.BUSY, "486")  # one call got through: failures no longer count
    assert not any(through.ended(Outcome.ERROR, "x") for _ in range(10)) and not through.all_failed


# -- time: the runner reads only the clock it is given ----------------------------------------------------

class FakeClock(Clock):
    """Monotonic time that moves only when ``advance`` is called; wall time moves with it.

    Time is kept as an exact fraction, so that 0.1 s steps add up to whole seconds exactly. A run
    still going after ``limit_s`` fake seconds fails (it waits on some other clock) instead of hanging.
    """

    def __init__(self, mono_s: float = 1000.0, wall_s: float = 1_800_000_000.0, limit_s: float = 600.0) -> None:
        self.mono0_s, self.wall0_s, self.limit_s = mono_s, wall_s, limit_s
        self.elapsed = Fraction(0)

    def monotonic_s(self) -> float:
        return float(Fraction(self.mono0_s) + self.elapsed)

    def wall_s(self) -> float:
        return self.wall0_s + float(self.elapsed)

    def advance(self, seconds: float) -> None:
        self.elapsed += Fraction(str(seconds))
        assert self.elapsed <= self.limit_s, f"the run did not end within {self.limit_s} s of the fake clock"


class TimedDialer(FakeDialer):
    """Every call is answered and hung up by the far end (dropped_silent) after its hotline's duration
    on the fake clock; ``collect`` waits ``timeout_s`` on that clock, as the pool waits on its queue."""

    def __init__(self, clock: FakeClock, durations_s: dict[str, float]) -> None:
        super().__init__(concurrency=len(durations_s))
        self.clock, self.durations_s = clock, durations_s
        self.started_s: dict[str, float] = {}  # "<chain_id>-a<attempt>" -> monotonic start

    def submit(self, spec: CallSpec) -> None:
        super().submit(spec)
        self.started_s[spec.call_uid.rsplit("-", 1)[0]] = self.clock.monotonic_s()

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]:
        self.clock.advance(timeout_s)
        now_s = self.clock.monotonic_s()
        ended = [s for s in self.waiting
                 if self.started_s[s.call_uid.rsplit("-", 1)[0]] + self._duration_s(s) <= now_s]
        self.waiting = [s for s in self.waiting if s not in ended]
        return [CallRecord(call_uid=s.call_uid, target=s.target, sip_call_id=s.call_uid + "@x",
                           invite_at=utc_iso(self.clock.wall0_s), events=[CallEvent(t_s=0.0, type="invite_sent")],
                           answered_s=0.5, ended_s=self._duration_s(s), final_status=200, final_reason="OK",
                           disconnect_by=DisconnectBy.REMOTE) for s in ended]

    def _duration_s(self, spec: CallSpec) -> float:
        return self.durations_s[spec.target.split(":")[1].split("@")[0]]


def test_calls_start_when_redial_delay_interval_and_round_interval_allow(tmp_path: Path) -> None:
    """A fake clock that moves only while the dialer waits: each call starts at the first 0.1 s step
    the limits allow, and the journal's and the manifest's times are the fake wall clock's."""
    c = campaign(hotlines=[{"id": "quick", "name": "Quick", "target": "1"},
                           {"id": "slow", "name": "Slow", "target": "5"}],
                 concurrency=2, rounds=2, round_interval_s=20,
                 limits={"per_hotline_concurrency": 1, "min_interval_s": 6, "calls_per_minute": 600},
                 redial={"on": ["dropped_silent"], "max_attempts": 2, "delay_s": 3})
    camp_file = tmp_path / "c.yaml"
    camp_file.write_text("campaign: fake\n")
    clock = FakeClock()
    dialer = TimedDialer(clock, {"1": 2.0, "5": 5.0})
    lines: list[str] = []
    result = run_campaign(c, camp_file, lambda: dialer, clock=clock, **_kw(tmp_path, lines))
    assert dialer.started_s == {
        "r1-quick-1-a1": 1000.0, "r1-slow-1-a1": 1000.0,
        "r1-quick-1-a2": 1006.0,  # ended 1002, redial delay until 1005, 6 s between starts: 1006
        "r1-slow-1-a2": 1008.0,  # ended 1005, redial delay 3 s: 1008 (the interval allowed 1006)
        "r2-quick-1-a1": 1033.0, "r2-slow-1-a1": 1033.0,  # round 1 ended 1013, 20 s between rounds
        "r2-quick-1-a2": 1039.0,  # ended 1035, delay until 1038, interval until 1039
        "r2-slow-1-a2": 1041.0,  # ended 1038, delay until 1041
    }
    assert result.rows == 8 and result.outcomes == Counter({"dropped_silent": 8})
    assert lines[-1].endswith("elapsed 0:46, ~0:00 left")  # the last call ended at 1046
    wall = clock.wall0_s
    journal = [json.loads(x) for x in result.evidence.with_name("attempts.jsonl").read_text().splitlines()]
    assert journal[0]["started_at"] == utc_iso(wall)
    assert {x["call_uid"].rsplit("-", 1)[0]: x["at"] for x in journal[1:]} == {
        k: utc_iso(wall + t - 1000.0) for k, t in dialer.started_s.items()}
    manifest = json.loads(result.manifest.read_text())
    assert (manifest["started_at"], manifest["ended_at"]) == (utc_iso(wall), utc_iso(wall + 46.0))
    assert verify_evidence(result.evidence, check_recordings=False).ok
