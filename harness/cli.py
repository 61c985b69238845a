"""Command-line interface: a thin, typed layer over the package.

Exit codes (documented in the README): 0 ok, 1 thresholds failed, 2 bad input,
3 SIP or infrastructure failure. Every HarnessError becomes one red line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.errors import HarnessError


class _Group(click.Group):
    """Turn HarnessError into one line plus its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            click.secho(f"harness: error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.secho("harness: interrupted", fg="red", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Mystery-shopper test-call harness (exit codes: 0 ok, 1 thresholds failed, 2 bad input, 3 SIP/infra)."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "table"]), default="json", show_default=True)
def analyze(file: Path, fmt: str) -> None:
    """Label what the caller heard in FILE (a mono WAV) as timed segments."""
    from harness.analysis.command import analyze_command

    analyze_command(file, fmt)


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build/media"),
              show_default=True)
def media(out_dir: Path) -> None:
    """Prepare the lab's audio (hold music, greetings, IVR prompts) from Debian packages."""
    from harness.lab.media import prepare_media

    written = prepare_media(out_dir)
    click.echo(f"lab media ready in {out_dir} ({len(written)} files)")


if __name__ == "__main__":  # pragma: no cover
    main()
