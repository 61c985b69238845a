"""``harness lab``: run the lab PBX in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import selectors
import signal
import subprocess
import sys
from pathlib import Path

from harness.errors import BadInput
from harness.lab.scenario import load_lab
from harness.lab.server import serve
from harness.sip.uri import check_ip


def run_lab(hotlines_file: Path, bind: str, port: int, truth_file: Path, media_dir: Path | None) -> None:
    """Load the hotlines, serve them, and print one line when listening (tests wait for it)."""
    try:
        check_ip(bind)
    except ValueError as exc:
        raise BadInput(f"--bind: {exc}") from None
    if not 0 <= port <= 65535:
        raise BadInput(f"--port: {port} is not a UDP port (0-65535; 0 = any free port)")
    config = load_lab(hotlines_file)
    media = media_dir or Path(config.media_dir)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(bound: int) -> None:
            print(f"lab PBX listening on sip:{bind}:{bound} with {len(config.hotlines)} hotlines; "
                  f"truth -> {truth_file}", flush=True)

        await serve(config, media, truth_file, bind, port, ready=ready, stop_event=stop)

    asyncio.run(main())
    print("lab PBX stopped", file=sys.stderr, flush=True)


class LabProcess:
    """The lab PBX in a child process on a free port (``harness demo``, tests, benchmarks).

    ``with LabProcess(hotlines, truth) as lab:`` starts ``harness lab --port 0`` and
    waits for its "listening" line; ``lab.host``, ``lab.port`` say where it listens.
    """

    def __init__(self, hotlines_file: Path, truth_file: Path, media_dir: Path | None = None,
                 bind: str = "127.0.0.1", start_timeout_s: float = 15.0) -> None:
        self.hotlines_file, self.truth_file, self.media_dir = hotlines_file, truth_file, media_dir
        self.bind, self.start_timeout_s = bind, start_timeout_s
        self.host, self.port = bind, 0
        self.log_file = truth_file.with_suffix(".log")  # the lab's stderr
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LabProcess:  # noqa: PYI034
        from harness.errors import InfraError

        cmd = [sys.executable, "-m", "harness.cli", "lab", "--hotlines", str(self.hotlines_file),
               "--bind", self.bind, "--port", "0", "--truth", str(self.truth_file)]
        if self.media_dir is not None:
            cmd += ["--media-dir", str(self.media_dir)]
        # stderr to a file beside the truth: a pipe nobody reads would stall the lab once full
        self.truth_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "a")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(self.start_timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        sel.close()
        if "listening on sip:" not in line:
            self.proc.kill()
            self.proc.wait()
            err = self.log_file.read_text(errors="replace")
            last = (err.strip().splitlines() or [line.strip() or "no output"])[-1]
            raise InfraError(f"lab PBX did not start: {last}")
        addr = line.split("listening on sip:", 1)[1].split()[0]
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        return self

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
