"""The dialer: a pool of worker processes, each owning one pjsua2 Endpoint.

pjsua2 holds at most ``seam.MAX_CALLS_PER_PROCESS`` calls per process, so
concurrency means processes. Each worker runs ``SipEngine`` on its own ports,
pumps ``libHandleEvents`` on its one thread, takes ``CallSpec`` objects from its
own task queue and sends finished ``CallRecord`` objects back on a shared result
queue. The parent schedules: ``submit`` when ``free_slots`` allows, ``collect``
to get what has ended.

A worker that dies mid-call (killed, crashed) does not lose its calls: the parent
rebuilds each call's record from the ``.events.partial.json`` the engine keeps on
disk, repairs the WAV header (pjsua2 writes it only on a clean close), flags the
record ``recording_repaired`` and ``error``, and starts a fresh worker.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from harness.audio.wav import repair_wav_header, wav_duration_s
from harness.errors import BadInput, HarnessError, InfraError
from harness.sip.seam import MAX_CALLS_PER_PROCESS, Account
from harness.sip.timeline import write_record
from harness.vocab import CallRecord, CallSpec

START_TIMEOUT_S = 20.0


def _worker_main(worker_id: int, account_json: str, bind: str, clock_rate_hz: int,
                 tasks: mp.Queue[Any], results: mp.Queue[Any]) -> None:
    """Body of one worker process: one Endpoint, calls in, records out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from harness.sip.pjsua_adapter import SipEngine

    parent = os.getppid()
    engine = SipEngine(Account.model_validate_json(account_json), clock_rate_hz=clock_rate_hz,
                       bind_address=bind)
    try:
        engine.start()
    except HarnessError as exc:
        results.put(("fatal", worker_id, str(exc), exc.exit_code))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which exits 3
        results.put(("fatal", worker_id, f"SIP worker failed to start: {exc}", 3))
        return
    results.put(("ready", worker_id, engine.local_port, os.getpid()))
    stopping = False
    try:
        while True:
            while not stopping:
                try:
                    msg = tasks.get_nowait()
                except queue.Empty:
                    break
                if msg is None:
                    stopping = True
                    engine.hangup_all()
                    break
                spec = CallSpec.model_validate_json(msg)
                engine.begin(spec)
            for record in engine.poll(10):
                results.put(("done", worker_id, record.model_dump_json()))
            if stopping and engine.active_count == 0:
                break
            if os.getppid() != parent:  # orphaned: end our calls and go
                stopping = True
                engine.hangup_all()
    finally:
        engine.stop()


@dataclass
class _Worker:
    worker_id: int
    proc: BaseProcess
    tasks: mp.Queue[Any]
    ready: bool = False
    local_port: int | None = None
    inflight: dict[str, CallSpec] = field(default_factory=dict)


def recovered_record(call_uid: str, target: str, out_dir: Path, why: str) -> CallRecord:
    """What a call that did not end cleanly left on disk: its final events, else its partial events,
    else nothing; with ``error`` set to ``why`` and its WAV header repaired (and flagged) if needed."""
    record = CallRecord(call_uid=call_uid, target=target)
    for name in (f"{call_uid}.events.json", f"{call_uid}.events.partial.json"):
        try:
            record = CallRecord.model_validate_json((out_dir / name).read_text())
            break
        except (OSError, ValueError):
            continue
    record.error = why
    wav = out_dir / f"{call_uid}.wav"
    if wav.exists():
        record.recording = wav.name
        record.recording_repaired = repair_wav_header(wav) or record.recording_repaired
        record.recording_duration_s = round(wav_duration_s(wav), 3)
    return record


def recover_record(spec: CallSpec, why: str) -> CallRecord:
    """Rebuild the record of a call whose worker died and write it as the call's final events."""
    record = recovered_record(spec.call_uid, spec.target, spec.out_dir, why)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    write_record(record, spec.out_dir)
    (spec.out_dir / f"{spec.call_uid}.events.partial.json").unlink(missing_ok=True)
    return record


class WorkerPool:
    """A pool of SIP worker processes (``MAX_CALLS_PER_PROCESS`` calls each); implements the ``Dialer`` seam.

    ``concurrency`` calls at once over ``ceil(concurrency / MAX_CALLS_PER_PROCESS)`` workers. Use as a
    context manager; ``start`` raises ``InfraError`` (or ``BadInput``) when the
    workers cannot start or register, with the worker's one-line reason.
    """

    def __init__(self, account: Account | None = None, concurrency: int = 4, bind: str = "127.0.0.1",
                 clock_rate_hz: int = 8000, calls_per_worker: int = MAX_CALLS_PER_PROCESS) -> None:
        if concurrency < 1:
            raise BadInput("concurrency must be at least 1")
        self.account = account or Account()
        self.concurrency = concurrency
        self.calls_per_worker = min(calls_per_worker, MAX_CALLS_PER_PROCESS)
        self.bind = bind
        self.clock_rate_hz = clock_rate_hz
        self.n_workers = math.ceil(concurrency / self.calls_per_worker)
        self._ctx = mp.get_context("spawn")
        self._results: mp.Queue[Any] = self._ctx.Queue()
        self._workers: dict[int, _Worker] = {}
        self._next_id = 0
        self._done: list[CallRecord] = []
        self._closing = False
        self.restarts = 0

    # -- life cycle ----------------------------------------------------------------------------
    def __enter__(self) -> "WorkerPool":  # noqa: PYI034, UP037
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the workers and wait until every one is ready (registered when an account says so)."""
        for _ in range(self.n_workers):
            self._spawn()
        self._await_ready()

    def _spawn(self) -> _Worker:
        wid = self._next_id
        self._next_id += 1
        tasks: mp.Queue[Any] = self._ctx.Queue()
        proc = self._ctx.Process(target=_worker_main, name=f"sip-worker-{wid}", daemon=True,
                                 args=(wid, self.account.model_dump_json(), self.bind, self.clock_rate_hz,
                                       tasks, self._results))
        proc.start()
        worker = _Worker(wid, proc, tasks)
        self._workers[wid] = worker
        return worker

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while any(not w.ready for w in self._workers.values()):
            self._pump(0.1)
            dead = [w for w in self._workers.values() if not w.ready and not w.proc.is_alive()]
            if dead:
                self._pump(0.2)  # its "fatal" message, if it sent one, raises here
                self.close()
                raise InfraError(f"SIP worker {dead[0].worker_id} exited while starting "
                                 f"(exit code {dead[0].proc.exitcode})")
            if time.monotonic() > deadline:
                self.close()
                raise InfraError(f"SIP workers did not start within {START_TIMEOUT_S:g} s")

    def close(self) -> None:
        """Hang up what is still going, stop the workers and collect their last records."""
        if self._closing:
            return
        self._closing = True
        for w in self._workers.values():
            if w.proc.is_alive():
                try:
                    w.tasks.put(None)
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 8.0
        while any(w.proc.is_alive() for w in self._workers.values()) and time.monotonic() < deadline:
            self._pump(0.05)
        for w in self._workers.values():
            if w.proc.is_alive():
                w.proc.terminate()
                w.proc.join(2)
        self._pump(0)
        self._reap_dead()
        for w in self._workers.values():
            w.tasks.close()
            w.tasks.join_thread()
        self._results.close()
        self._results.join_thread()

    # -- scheduling ----------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Calls submitted and not yet collected."""
        return sum(len(w.inflight) for w in self._workers.values())

    @property
    def free_slots(self) -> int:
        """How many more calls may be submitted now."""
        return max(0, self.concurrency - self.in_flight)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (tests kill one to check recovery)."""
        return [w.proc.pid for w in self._workers.values() if w.proc.is_alive() and w.proc.pid]

    def submit(self, spec: CallSpec) -> None:
        """Hand ``spec`` to the least-loaded worker; the record comes back from ``collect``."""
        if self.free_slots <= 0:
            raise InfraError("dialer is full: wait for collect() before submitting more calls")
        live = [w for w in self._workers.values()
                if w.ready and w.proc.is_alive() and len(w.inflight) < self.calls_per_worker]
        if not live:
            raise InfraError("no SIP worker is available")
        worker = min(live, key=lambda w: (len(w.inflight), w.worker_id))
        worker.inflight[spec.call_uid] = spec
        worker.tasks.put(spec.model_dump_json())

    def collect(self, timeout_s: float = 0.1) -> list[CallRecord]:
        """Records of calls that ended since the last collect (waits up to ``timeout_s`` for one)."""
        self._pump(timeout_s)
        self._reap_dead()
        out, self._done = self._done, []
        return out

    def place(self, spec: CallSpec) -> CallRecord:
        """The ``Dialer`` seam: place one call and block until it has ended."""
        self.submit(spec)
        deadline = time.monotonic() + spec.max_call_s + 60.0
        kept: list[CallRecord] = []
        try:
            while time.monotonic() < deadline:
                for rec in self.collect(0.1):
                    if rec.call_uid == spec.call_uid:
                        return rec
                    kept.append(rec)
            raise InfraError(f"call {spec.call_uid} did not end within {spec.max_call_s + 60:g} s")
        finally:
            self._done = kept + self._done

    # -- internals -----------------------------------------------------------------------------
    def _pump(self, timeout_s: float) -> None:
        block = timeout_s > 0
        while True:
            try:
                msg = self._results.get(block, timeout_s) if block else self._results.get_nowait()
            except queue.Empty:
                return
            except (OSError, ValueError, EOFError):
                return
            block = False
            self._handle(msg)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind, wid = msg[0], msg[1]
        worker = self._workers.get(wid)
        if kind == "ready" and worker is not None:
            worker.ready, worker.local_port = True, msg[2]
        elif kind == "fatal":
            text, code = msg[2], msg[3]
            if not self._closing:
                self.close()
            raise (BadInput(text) if code == 2 else InfraError(text))
        elif kind == "done":
            record = CallRecord.model_validate_json(msg[2])
            if worker is not None:
                worker.inflight.pop(record.call_uid, None)
            self._done.append(record)

    def _reap_dead(self) -> None:
        for wid, w in list(self._workers.items()):
            if w.proc.is_alive() or (w.proc.exitcode == 0 and not w.inflight):
                continue
            self._pump(0)  # records it sent before dying
            why = f"SIP worker {wid} died mid-call (exit code {w.proc.exitcode}); recording kept, header repaired"
            for uid, spec in list(w.inflight.items()):
                self._done.append(recover_record(spec, why))
                w.inflight.pop(uid)
            del self._workers[wid]
            if not self._closing:
                self.restarts += 1
                self._spawn()
                self._await_ready()
