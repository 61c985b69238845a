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
from harness.errors import EXIT_INFRA, EXIT_OK, HarnessError, on_one_line


class _Group(click.Group):
    """Turn HarnessError into one line plus its exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            click.secho(f"harness: error: {on_one_line(str(exc))}", fg="red", err=True)
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
    """Label what the caller heard in FILE (a mono WAV) as timed segments.

    Bad input raises ``BadInput`` (one red line, exit code 2). A truncated file is analysed
    as far as it goes, with one warning line on stderr (exit code 0)."""
    from harness.analysis import analyze_file, command

    res = analyze_file(file)
    warning = command.truncation_warning(file, res)
    if warning:
        click.secho(warning, fg="yellow", err=True)
    if fmt == "json":
        click.echo(command.as_json(res))
    elif fmt == "csv":
        click.echo(command.as_csv(res), nl=False)
    else:
        from rich.console import Console

        Console(width=100).print(command.as_table(res))
        click.echo(command.summary_line(res))


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("build/media"),
              show_default=True)
def media(out_dir: Path) -> None:
    """Prepare the lab's audio (hold music, greetings, IVR prompts) from Debian packages."""
    from harness.lab.media import prepare_media

    written = prepare_media(out_dir)
    click.echo(f"lab media ready in {out_dir} ({len(written)} files)")


@main.command()
@click.option("--hotlines", "hotlines_file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("scenarios/lab/hotlines.yaml"), show_default=True, help="hotline declarations")
@click.option("--bind", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5060, show_default=True, help="SIP UDP port (0: any free port)")
@click.option("--truth", "truth_file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("build/lab/truth.jsonl"), show_default=True, help="ground-truth JSON lines (appended)")
@click.option("--media-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="lab media folder (default: media_dir of the hotlines file)")
def lab(hotlines_file: Path, bind: str, port: int, truth_file: Path, media_dir: Path | None) -> None:
    """Run the lab PBX: hotlines that behave as declared, with ground truth per call."""
    from harness.lab.runner import run_lab

    run_lab(hotlines_file, bind, port, truth_file, media_dir)


@main.command()
@click.argument("target")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder for <call_uid>.wav, .events.json and .sip.log")
@click.option("--registrar", default=None, help="register first, e.g. sip:127.0.0.1:5070")
@click.option("--username", default=None, help="SIP user for registration / digest authentication")
@click.option("--password-env", default=None, help="name of the environment variable holding the password")
@click.option("--credentials-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="a file (mode 0600) holding the password, instead of --password-env")
@click.option("--ring-timeout-s", default=30.0, show_default=True, type=float, help="CANCEL if not answered by then")
@click.option("--max-call-s", default=300.0, show_default=True, type=float, help="BYE after this long")
@click.option("--dtmf", default=None, help="digits to send (RFC 2833) after the answer")
@click.option("--dtmf-after-s", default=1.0, show_default=True, type=float, help="seconds after the answer")
@click.option("--bind", default=None, help="local address for SIP/RTP (default: 127.0.0.1 for loopback targets)")
def call(target: str, out_dir: Path, registrar: str | None, username: str | None, password_env: str | None,
         credentials_file: Path | None,
         ring_timeout_s: float, max_call_s: float, dtmf: str | None, dtmf_after_s: float, bind: str | None) -> None:
    """Place one call to TARGET (a SIP URI), record it, and print a one-line summary."""
    from harness.sip.probe import infra_failure, probe, summary_line

    rec = probe(target, out_dir, registrar=registrar, username=username, password_env=password_env,
                credentials_file=credentials_file,
                ring_timeout_s=ring_timeout_s, max_call_s=max_call_s, dtmf=dtmf, dtmf_after_s=dtmf_after_s,
                bind=bind)
    click.echo(summary_line(rec, out_dir))
    failure = infra_failure(rec)
    if failure:
        click.secho(f"harness: error: {failure}", fg="red", err=True)
    sys.exit(EXIT_INFRA if failure else EXIT_OK)


@main.command()
@click.argument("campaign_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", is_flag=True, help="continue a run that stopped: finished attempts are not called again")
@click.option("--host", default=None, help="re-aim bare-number hotlines at HOST:PORT (e.g. a lab on another port); "
              "with --resume the run's own host is reused when omitted")
@click.option("--change-host", is_flag=True,
              help="with --resume: dial a --host other than the one the run dialled (recorded in the journal "
                   "and the manifest)")
@click.option("--reports", "reports_root", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="evidence goes to REPORTS/<campaign>/")
@click.option("--recordings", "recordings_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("recordings"), show_default=True, help="recordings go to RECORDINGS/<campaign>/")
@click.option("--sign-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ed25519 private key (mode 0600, from harness keygen) to sign the manifest with "
                   "(default: the PEM in $HARNESS_SIGNING_KEY, else unsigned)")
def run(campaign_file: Path, resume: bool, host: str | None, change_host: bool, reports_root: Path,
        recordings_root: Path, sign_key: Path | None) -> None:
    """Run a survey campaign: place the calls, judge each, write hash-chained evidence; print its head hash."""
    from harness.campaign.command import run_command

    result = run_command(campaign_file, resume=resume, host=host, reports_root=reports_root,
                         recordings_root=recordings_root, change_host=change_host, sign_key=sign_key)
    sys.exit(130 if result.interrupted else 0)


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check campaign files (and lab hotline files under scenarios/lab/) without calling anyone."""
    from harness.validate import validate_lines

    ok, errors, code = validate_lines(list(files))
    for line in ok:
        print(line)
    for line in errors:
        print(line, file=sys.stderr)
    sys.exit(code)


@main.command()
@click.argument("evidence", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-recordings", is_flag=True,
              help="check the hash chain only, not the recordings' and sidecars' files")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="manifest.json to hold the CSV to (default: the one beside the CSV; required)")
@click.option("--head", default=None, metavar="HASH", help="the head hash harness run printed (published): the last row must carry it")
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="pinned Ed25519 public key (PEM): the manifest must be signed with it")
@click.option("--recordings-folder", "recordings", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the campaign's own recordings folder, e.g. recordings/<campaign> (default: the manifest's)")
def verify(evidence: Path, no_recordings: bool, manifest: Path | None, head: str | None,
           public_key: Path | None, recordings: Path | None) -> None:
    """Verify an evidence CSV: exit 0 when intact, 2 naming the first bad row."""
    from harness.campaign.command import verify_command

    sys.exit(verify_command(evidence, not no_recordings, manifest, head=head, public_key=public_key,
                            recordings=recordings))


@main.command()
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key_file: Path) -> None:
    """Make an Ed25519 key pair for signing manifests: KEY_FILE (private, mode 0600) and KEY_FILE.pub."""
    from harness.signing import keygen as make_key

    pub, fp = make_key(key_file)
    click.echo(f"private key {key_file} (mode 0600: keep it secret; harness run --sign-key {key_file}); "
               f"public key {pub} (publish it, or its fingerprint {fp}; harness verify --public-key {pub})")


@main.command()
@click.argument("evidence", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/report"),
              show_default=True, help="folder for the tables, plots, report.md and report.html")
@click.option("--fail-if", "fail_if", multiple=True, help="threshold, e.g. 'drop_rate>0.05' (repeatable)")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write junit.xml here")
@click.option("--no-verify", is_flag=True, help="use evidence whose hash chain does not verify")
@click.option("--campaign", "campaign_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="campaign file: its thresholds, redial propensity and rounds")
def report(evidence: tuple[Path, ...], out_dir: Path, fail_if: tuple[str, ...], junit: Path | None,
           no_verify: bool, campaign_file: Path | None) -> None:
    """Tabulate drop rates, the redial ladder and rounds from evidence; exit 1 when a threshold is exceeded."""
    from harness.report import build_report

    thresholds = propensity = rounds = None
    if campaign_file is not None:
        from harness.campaign.config import load_campaign

        camp = load_campaign(campaign_file)
        thresholds = camp.thresholds.model_dump(exclude_none=True)
        propensity, rounds = camp.loss_model.redial_propensity, camp.rounds
    result = build_report(list(evidence), out_dir, fail_if=list(fail_if), junit=junit, verify=not no_verify,
                          thresholds=thresholds, redial_propensity=propensity, rounds=rounds)
    click.echo(result.headline)
    for check in result.failures:
        click.secho(f"threshold exceeded: {check.message}", fg="red", err=True)
    click.echo(f"report written to {out_dir}/ (report.html, report.md, CSV tables, PNG plots)")
    sys.exit(result.exit_code)


@main.command()
def demo() -> None:
    """Start the embedded lab PBX, run the ten-hotline survey against it, and report."""
    from harness.demo import demo as run_demo

    sys.exit(run_demo())


if __name__ == "__main__":  # pragma: no cover
    main()
