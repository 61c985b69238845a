"""Call-path benchmark: N simultaneous recorded calls against the lab PBX.

    python -m harness.bench calls [--calls 12,40,100] [--keep-going]

For each N it starts a fresh lab PBX (``LabProcess``) with the bench hotline
(``scenarios/lab/bench_hotlines.yaml``: answer after 0.5 s, 20 s of hold music, the
English greeting, the lab hangs up), a ``WorkerPool`` of ``ceil(N / 4)`` pjsua2
workers, submits all N calls at once and waits for every record. It reports:

- whether the N calls were really simultaneous (the latest answer came before the
  earliest hangup, from the callers' own timelines on the system-wide monotonic clock);
- calls completed (answered, hung up by the lab, recording written, no error);
- the largest |recording_gap_s| (signalling media span minus recording duration) and
  how many recordings are off by more than the tolerance (100 ms);
- whether the lab kept its media clock (its truth: how long the 20 s of music really took);
- caller CPU (the workers plus this process, from ``/proc/<pid>/stat``) and peak RSS
  (sum over the workers, sampled from ``/proc/<pid>/statm``), lab CPU and RSS, and the
  whole machine's CPU use over the same window (the machine may be shared).

A size that fails stops the sweep (``--keep-going`` runs every size). The exit code is
0 when the measurements ran (whether or not the goal was met: the table says), 2 for bad
options or missing lab media, 3 when the lab or the workers could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from harness.clock import parse_utc
from harness.errors import BadInput, HarnessError
from harness.vocab import CallRecord, CallSpec, DisconnectBy

# The lab runner (numpy, soundfile, asyncio) and the pool are imported where they are used, so that
# a module that imports this one for its figures (the tests, the bench's option table) stays light.

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOTLINES = ROOT / "scenarios" / "lab" / "bench_hotlines.yaml"
DEFAULT_MEDIA = ROOT / "build" / "media"
DEFAULT_OUT = ROOT / "build" / "bench-calls"
NUMBER = "3001"
MUSIC_S = 20.0  # the bench hotline's declared hold music (bench_hotlines.yaml)
GAP_TOLERANCE_S = 0.100  # the goal: every recording within 100 ms of its signalling duration
GOAL_CALLS = 100
SAMPLE_INTERVAL_S = 0.25
SLOW_ANSWER_S = 1.5  # the hotline answers 0.5 s after the INVITE; INVITE retransmits at 0.5 s, 1.5 s, 3.5 s
HOLD_WINDOW_S = (5.0, 20.0)  # every call answered and on hold music: the steady media load
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


# -- /proc readers (psutil is not a dependency) ----------------------------------------------------
def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process (``/proc/<pid>/stat`` utime + stime); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # fields from 3 (state) on; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    """Resident set size of one process in bytes (``/proc/<pid>/statm``); 0 if gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def proc_pss_bytes(pid: int) -> int:
    """Proportional set size in bytes (shared pages split between their users); 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def proc_wait_s(pid: int) -> float:
    """Seconds the threads of one process spent runnable but waiting for a CPU (``schedstat``)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        return 0.0
    return total / 1e9


def udp_rcvbuf_errors() -> int:
    """Datagrams the kernel dropped because a UDP socket's receive buffer was full (machine-wide)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over cores (``/proc/stat``)."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already inside user
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class _Sample:
    t_s: float
    lab_cpu_s: float
    workers_cpu_s: float
    workers_rss: int
    per_worker_rss: list[int]
    lab_rss: int
    parent_rss: int
    workers_pss: int | None  # sampled once a second (smaps_rollup is dearer to read)
    lab_wait_s: float
    workers_wait_s: float


class Sampler:
    """Samples CPU and RSS of the lab, the workers and this process every ``interval_s`` in a thread."""

    def __init__(self, lab_pid: int, worker_pids: list[int], interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.lab_pid, self.worker_pids, self.interval_s = lab_pid, list(worker_pids), interval_s
        self.samples: list[_Sample] = []
        self.own_cpu_s = 0.0  # this thread's CPU, taken out of the caller's figure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        t0 = time.thread_time()
        i = 0
        while True:
            rss = [proc_rss_bytes(p) for p in self.worker_pids]
            pss = sum(proc_pss_bytes(p) for p in self.worker_pids) if i % 4 == 0 else None
            i += 1
            self.samples.append(_Sample(
                t_s=time.monotonic(), lab_cpu_s=proc_cpu_s(self.lab_pid) or 0.0,
                workers_cpu_s=sum(proc_cpu_s(p) or 0.0 for p in self.worker_pids),
                workers_rss=sum(rss), per_worker_rss=rss, lab_rss=proc_rss_bytes(self.lab_pid),
                parent_rss=proc_rss_bytes(os.getpid()), workers_pss=pss,
                lab_wait_s=proc_wait_s(self.lab_pid),
                workers_wait_s=sum(proc_wait_s(p) for p in self.worker_pids)))
            self.own_cpu_s = time.thread_time() - t0
            if self._stop.wait(self.interval_s):
                return

    def peak_cpu_pct(self, attr: str, window_s: float = 1.0) -> tuple[float, float]:
        """Highest CPU use of ``attr`` over any ``window_s`` window, in % of one core, and when
        that window started (seconds after the first sample)."""
        best, when = 0.0, 0.0
        for i, a in enumerate(self.samples):
            for b in self.samples[i + 1:]:
                if b.t_s - a.t_s >= window_s:
                    pct = 100.0 * (getattr(b, attr) - getattr(a, attr)) / (b.t_s - a.t_s)
                    if pct > best:
                        best, when = pct, a.t_s - self.samples[0].t_s
                    break
        return best, when

    def mean_cpu_pct(self, attr: str, from_s: float, to_s: float) -> float | None:
        """Mean CPU use of ``attr`` between ``from_s`` and ``to_s`` after the first sample (% of one core)."""
        if not self.samples:
            return None
        t0 = self.samples[0].t_s
        inside = [s for s in self.samples if from_s <= s.t_s - t0 <= to_s]
        if len(inside) < 2:
            return None
        a, b = inside[0], inside[-1]
        return 100.0 * (getattr(b, attr) - getattr(a, attr)) / (b.t_s - a.t_s)


# -- one run ----------------------------------------------------------------------------------
@dataclass
class RunResult:
    """The measured figures of one size N (times in seconds, CPU in % of one core, memory in MiB)."""

    calls: int
    workers: int
    pool_start_s: float
    records: int
    completed: int
    peak_overlap: int  # most calls answered and not yet ended at one instant (callers' timelines)
    simultaneous: bool  # the latest answer came before the earliest end: all N were up together
    invite_spread_s: float  # first INVITE to last INVITE
    answer_median_s: float | None
    answer_max_s: float | None
    slow_answers: int  # answered more than SLOW_ANSWER_S after the INVITE: a SIP message needed a retransmission
    udp_drops: int  # UDP receive-buffer drops on the whole machine during the run (/proc/net/snmp)
    max_abs_gap_ms: float | None
    gaps_over_tol: int  # of the recordings that have a gap (a call without one is not completed)
    gap_p50_ms: float | None
    lab_music_max_stretch_ms: float | None  # how much longer than 20 s the lab took to send the music
    lab_bye_late_max_ms: float | None  # greeting end to the lab's BYE (0 by the script)
    window_s: float
    caller_cpu_s: float
    caller_cpu_pct: float
    caller_peak_1s_pct: float
    caller_peak_at_s: float  # when the busiest second started, seconds after the INVITEs
    caller_hold_pct: float | None  # workers' CPU while every call is on hold (5-20 s after the INVITEs)
    caller_peak_rss_mib: float
    workers_peak_pss_mib: float  # RSS counts the shared pjsua2/Python pages once per worker; PSS splits them
    worker_peak_rss_mib: float
    lab_cpu_s: float
    lab_cpu_pct: float
    lab_peak_1s_pct: float
    lab_hold_pct: float | None
    lab_peak_rss_mib: float
    lab_wait_peak_pct: float  # the lab runnable but waiting for a CPU, worst 1 s (% of that second)
    workers_wait_peak_pct: float  # the same summed over the workers' threads (100% = one thread-second/s)
    machine_busy_pct: float  # whole machine over the window, % of ALL cores (2 cores = 200%)
    other_busy_pct: float  # machine minus caller minus lab: other jobs sharing the machine
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every call completed, all were up at once, and every recording is within tolerance."""
        return (self.completed == self.calls and self.simultaneous and self.gaps_over_tol == 0
                and self.max_abs_gap_ms is not None)


def _intervals(records: list[CallRecord]) -> list[tuple[float, float]]:
    out = []
    for r in records:
        if r.invite_monotonic_s is not None and r.answered_s is not None and r.ended_s is not None:
            out.append((r.invite_monotonic_s + r.answered_s, r.invite_monotonic_s + r.ended_s))
    return out


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at the same instant as a start does not overlap)."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    best = cur = 0
    for _, step in edges:
        cur += step
        best = max(best, cur)
    return best


def _round1(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _completed(r: CallRecord) -> bool:
    return (r.error is None and r.final_status == 200 and r.disconnect_by == DisconnectBy.REMOTE
            and r.recording is not None and r.recording_gap_s is not None and not r.recording_repaired)


def lab_truth_figures(truth_file: Path, call_ids: set[str]) -> tuple[float | None, float | None]:
    """From the lab's ground truth, over the calls: the largest (real music phase - declared 20 s) and
    the largest delay from the end of the greeting to the lab's BYE (the script says: at once), in ms.
    Both grow when the lab's one event loop falls behind."""
    if not truth_file.exists():
        return None, None
    stretch: list[float] = []
    bye_late: list[float] = []
    for line in truth_file.read_text().splitlines():
        row = json.loads(line)
        if row.get("sip_call_id") not in call_ids:
            continue
        phases = row.get("phases", [])
        for ph in phases:
            if ph["kind"] == "music":
                stretch.append(parse_utc(ph["end"]) - parse_utc(ph["start"]) - MUSIC_S)
        if phases and row.get("hangup_by") == "lab" and row.get("hangup_at"):
            bye_late.append(parse_utc(row["hangup_at"]) - parse_utc(phases[-1]["end"]))
    return (round(max(stretch) * 1000, 1) if stretch else None,
            round(max(bye_late) * 1000, 1) if bye_late else None)


def run_size(n: int, hotlines: Path, media_dir: Path, out_root: Path, log: Callable[[str], None] = print,
             lab_nice: int = 0) -> RunResult:
    """Place ``n`` simultaneous calls to the bench hotline on a fresh lab and measure them."""
    from harness.lab.runner import LabProcess
    from harness.sip.pool import WorkerPool

    out_dir = out_root / f"n{n:03d}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    truth = out_dir / "lab-truth.jsonl"
    with LabProcess(hotlines, truth, media_dir) as lab:
        assert lab.proc is not None
        if lab_nice:  # the lab is one process against ceil(n/4) workers: optionally favour it
            os.setpriority(os.PRIO_PROCESS, lab.proc.pid, lab_nice)
        t_pool = time.monotonic()
        with WorkerPool(concurrency=n) as pool:
            pool_start_s = time.monotonic() - t_pool
            pids = pool.worker_pids()
            log(f"  N={n}: lab on {lab.hostport}, {len(pids)} workers ready in {pool_start_s:.1f} s; "
                f"placing {n} calls")
            target = f"sip:{NUMBER}@{lab.hostport}"
            parent_cpu0 = time.process_time()
            lab_cpu0, workers_cpu0 = proc_cpu_s(lab.proc.pid) or 0.0, sum(proc_cpu_s(p) or 0.0 for p in pids)
            machine0, udp0 = machine_cpu_s(), udp_rcvbuf_errors()
            t0 = time.monotonic()
            records: list[CallRecord] = []
            with Sampler(lab.proc.pid, pids) as sampler:
                for i in range(n):
                    pool.submit(CallSpec(call_uid=f"bench{n:03d}-{i:03d}", target=target, out_dir=out_dir,
                                         ring_timeout_s=10, max_call_s=90))
                deadline = t0 + 120
                while len(records) < n and time.monotonic() < deadline:
                    records += pool.collect(0.2)
                # CPU of the calls window, read while the workers are still alive
                window_s = time.monotonic() - t0
                workers_cpu = sum(proc_cpu_s(p) or 0.0 for p in pids) - workers_cpu0
                lab_cpu = (proc_cpu_s(lab.proc.pid) or 0.0) - lab_cpu0
                machine1, udp1 = machine_cpu_s(), udp_rcvbuf_errors()
            parent_cpu = time.process_time() - parent_cpu0 - sampler.own_cpu_s
            restarts = pool.restarts
    errors = sorted({r.error for r in records if r.error})
    if len(records) < n:
        errors.append(f"{n - len(records)} calls did not end within 120 s")
    if restarts:
        errors.append(f"{restarts} worker(s) died and were restarted")
    for r in records:
        if not _completed(r) and r.error is None:
            errors.append(f"{r.call_uid}: status {r.final_status}, ended by {r.disconnect_by.value}, "
                          f"recording {r.recording}")
    intervals = _intervals(records)
    gaps = [abs(r.recording_gap_s) for r in records if r.recording_gap_s is not None]
    answers = [r.answered_s for r in records if r.answered_s is not None]
    invites = [r.invite_monotonic_s for r in records if r.invite_monotonic_s is not None]
    caller_cpu = workers_cpu + parent_cpu
    machine_busy = machine1[0] - machine0[0]
    samples = sampler.samples
    lab_truth = lab_truth_figures(truth, {r.sip_call_id for r in records if r.sip_call_id})
    caller_peak = sampler.peak_cpu_pct("workers_cpu_s")
    worker_peak = max((max(s.per_worker_rss, default=0) for s in samples), default=0)
    res = RunResult(
        calls=n, workers=len(pids), pool_start_s=round(pool_start_s, 1), records=len(records),
        completed=sum(_completed(r) for r in records), peak_overlap=peak_overlap(intervals),
        simultaneous=len(intervals) == n and max(a for a, _ in intervals) < min(b for _, b in intervals),
        invite_spread_s=round(max(invites) - min(invites), 2) if invites else 0.0,
        answer_median_s=round(statistics.median(answers), 3) if answers else None,
        answer_max_s=round(max(answers), 3) if answers else None,
        slow_answers=sum(a > SLOW_ANSWER_S for a in answers), udp_drops=udp1 - udp0,
        max_abs_gap_ms=round(max(gaps) * 1000, 1) if gaps else None,
        gaps_over_tol=sum(g > GAP_TOLERANCE_S for g in gaps),
        gap_p50_ms=round(statistics.median(gaps) * 1000, 1) if gaps else None,
        lab_music_max_stretch_ms=lab_truth[0], lab_bye_late_max_ms=lab_truth[1],
        window_s=round(window_s, 1), caller_cpu_s=round(caller_cpu, 2),
        caller_cpu_pct=round(100 * caller_cpu / window_s, 1),
        caller_peak_1s_pct=round(caller_peak[0], 1), caller_peak_at_s=round(caller_peak[1], 1),
        caller_hold_pct=_round1(sampler.mean_cpu_pct("workers_cpu_s", *HOLD_WINDOW_S)),
        caller_peak_rss_mib=round(max((s.workers_rss + s.parent_rss for s in samples), default=0) / MIB, 1),
        worker_peak_rss_mib=round(worker_peak / MIB, 1),
        workers_peak_pss_mib=round(max((s.workers_pss or 0 for s in samples), default=0) / MIB, 1),
        lab_cpu_s=round(lab_cpu, 2), lab_cpu_pct=round(100 * lab_cpu / window_s, 1),
        lab_peak_1s_pct=round(sampler.peak_cpu_pct("lab_cpu_s")[0], 1),
        lab_hold_pct=_round1(sampler.mean_cpu_pct("lab_cpu_s", *HOLD_WINDOW_S)),
        lab_wait_peak_pct=round(sampler.peak_cpu_pct("lab_wait_s")[0], 1),
        workers_wait_peak_pct=round(sampler.peak_cpu_pct("workers_wait_s")[0], 1),
        lab_peak_rss_mib=round(max((s.lab_rss for s in samples), default=0) / MIB, 1),
        machine_busy_pct=round(100 * machine_busy / window_s, 1),
        other_busy_pct=round(100 * (machine_busy - caller_cpu - lab_cpu) / window_s, 1),
        errors=errors[:10],
    )
    (out_dir / "result.json").write_text(json.dumps(asdict(res), indent=1))
    return res


# -- report -----------------------------------------------------------------------------------
def _fmt(v: object) -> str:
    return "-" if v is None else str(v)


def table(results: list[RunResult]) -> str:
    """The markdown table docs/BENCHMARKS.md records."""
    rows: list[tuple[str, str | tuple[str, ...]]] = [
        ("simultaneous calls (N)", "calls"), ("worker processes", "workers"),
        ("workers ready (s)", "pool_start_s"), ("calls completed", "completed"),
        ("peak overlap (calls up at once)", "peak_overlap"), ("all N up together", "simultaneous"),
        ("INVITE spread, first to last (s)", "invite_spread_s"),
        ("answer after INVITE, median / max (s)", ("answer_median_s", "answer_max_s")),
        ("answered > 1.5 s after INVITE (retransmission needed)", "slow_answers"),
        ("UDP receive-buffer drops, whole machine", "udp_drops"),
        ("recording gap, median / max abs (ms)", ("gap_p50_ms", "max_abs_gap_ms")),
        ("recordings off by > 100 ms", "gaps_over_tol"),
        ("lab: 20 s of music took longer by, max (ms)", "lab_music_max_stretch_ms"),
        ("lab: greeting end to its BYE, max (ms; script: 0)", "lab_bye_late_max_ms"),
        ("calls window (s)", "window_s"),
        ("caller CPU, workers + parent (s)", "caller_cpu_s"),
        ("caller CPU, mean / on hold / peak 1 s (% of a core)",
         ("caller_cpu_pct", "caller_hold_pct", "caller_peak_1s_pct")),
        ("caller busiest second starts at (s after INVITEs)", "caller_peak_at_s"),
        ("caller peak RSS, workers + parent (MiB)", "caller_peak_rss_mib"),
        ("workers peak PSS (MiB)", "workers_peak_pss_mib"),
        ("largest worker RSS (MiB)", "worker_peak_rss_mib"),
        ("lab CPU (s)", "lab_cpu_s"),
        ("lab CPU, mean / on hold / peak 1 s (% of a core)", ("lab_cpu_pct", "lab_hold_pct", "lab_peak_1s_pct")),
        ("lab peak RSS (MiB)", "lab_peak_rss_mib"),
        ("lab waiting for a CPU, worst 1 s (% of it)", "lab_wait_peak_pct"),
        ("workers waiting for a CPU, worst 1 s (thread-%)", "workers_wait_peak_pct"),
        ("machine busy, all processes (% of 2 cores = 200)", "machine_busy_pct"),
        ("of which other jobs (%)", "other_busy_pct"),
        ("verdict", "ok"),
    ]
    lines = ["| | " + " | ".join(f"N={r.calls}" for r in results) + " |",
             "|---|" + "---:|" * len(results)]
    for label, attr in rows:
        cells = []
        for r in results:
            if isinstance(attr, tuple):
                cells.append(" / ".join(_fmt(getattr(r, a)) for a in attr))
            elif attr == "ok":
                cells.append("**pass**" if r.ok else "**FAIL**")
            elif attr == "simultaneous":
                cells.append("yes" if r.simultaneous else "**no**")
            else:
                cells.append(_fmt(getattr(r, attr)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sizes(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}") from None


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of ``python -m harness.bench calls``."""
    ap.add_argument("--calls", type=_sizes, default=[12, 40, 100],
                    help="comma-separated sizes N, run in order (default: 12,40,100)")
    ap.add_argument("--keep-going", action="store_true", help="run every size even after one fails")
    ap.add_argument("--hotlines", type=Path, default=DEFAULT_HOTLINES, help="bench hotline file")
    ap.add_argument("--media-dir", type=Path, default=DEFAULT_MEDIA, help="lab media (`harness media`)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="recordings and per-size result.json")
    ap.add_argument("--lab-nice", type=int, default=0,
                    help="nice value for the lab process (negative favours it; needs root); default 0")
    ap.add_argument("--pause-s", type=float, default=5.0, help="idle time between sizes (sockets, CPU settle)")


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print the table; returns the exit code (see the module docstring)."""
    sizes = args.calls
    if not (args.media_dir / "MEDIA.json").exists():
        raise BadInput(f"{args.media_dir}: lab media missing (prepare them with `harness media`)")
    print(f"call path: bench hotline {NUMBER} ({args.hotlines.name}: answer after 0.5 s, {MUSIC_S:g} s music, "
          f"greeting, lab BYE); sizes {sizes}; {os.cpu_count()} CPUs; lab nice {args.lab_nice}", flush=True)
    results: list[RunResult] = []
    for i, n in enumerate(sizes):
        if i:
            time.sleep(args.pause_s)
        try:
            res = run_size(n, args.hotlines, args.media_dir, args.out,
                           log=lambda s: print(s, flush=True), lab_nice=args.lab_nice)
        except HarnessError as exc:
            print(f"  N={n}: could not run: {exc}", flush=True)
            if not results:
                raise
            break
        results.append(res)
        print(f"  N={n}: {res.completed}/{n} completed, overlap {res.peak_overlap}, max |gap| "
              f"{res.max_abs_gap_ms} ms, {res.gaps_over_tol} over 100 ms, caller CPU {res.caller_cpu_pct}%, "
              f"lab CPU {res.lab_cpu_pct}% -> {'pass' if res.ok else 'FAIL'}", flush=True)
        for e in res.errors:
            print(f"    {e}", flush=True)
        if not res.ok and not args.keep_going:
            break
    print()
    print(table(results))
    best = max((r.calls for r in results if r.ok), default=0)
    met = best >= GOAL_CALLS and all(r.ok for r in results if r.calls <= GOAL_CALLS)
    goal = "met" if met else "NOT met"
    if not any(r.calls >= GOAL_CALLS for r in results):
        goal = f"not measured (no size >= {GOAL_CALLS} ran)"
    print(f"\nlargest passing N: {best}; goal ({GOAL_CALLS} simultaneous, every recording within "
          f"{GAP_TOLERANCE_S * 1000:.0f} ms): {goal}")
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0
