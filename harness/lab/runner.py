"""``harness lab``: run the lab PBX in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from harness.lab.scenario import load_lab
from harness.lab.server import serve


def run_lab(hotlines_file: Path, bind: str, port: int, truth_file: Path, media_dir: Path | None) -> None:
    """Load the hotlines, serve them, and print one line when listening (tests wait for it)."""
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
