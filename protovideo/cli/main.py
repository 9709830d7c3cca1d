"""Command line: parse the command, load the settings, make the runtime where the command
renders or serves, and hand it to the module that owns the command."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from typing import Callable

from generators.plugins import load_all
from jobmodel.spec import PRIORITIES, priority_name
from protovideo import __version__
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import Settings, SettingsError, load_settings

COMMANDS = {
    # command -> "module:function"; each function takes (args, settings), or (args, runtime)
    # for the commands in WITH_RUNTIME, and returns an exit code
    "render": "protovideo.cli.render:render_command",
    "run": "protovideo.cli.daemon:run_command",
    "submit": "protovideo.cli.daemon:submit_command",
    "status": "protovideo.cli.daemon:status_command",
    "cache": "protovideo.cli.cache:cache_command",
    "benchmark": "protovideo.cli.benchmark:benchmark_command",
    "serve": "protovideo.cli.serve:serve_command",
    "list": "protovideo.cli.jobs:list_command",
    "cancel": "protovideo.cli.jobs:cancel_command",
    "validate": "protovideo.cli.jobs:validate_command",
    "mcp": "protovideo.cli.mcp_server:mcp_command",
    "batch": "protovideo.cli.batch:batch_command",
}


# Commands that only read or queue: they never create WORK_DIR (or any other folder).
NO_SCRATCH = {"status", "cache", "list", "cancel", "validate", "submit", "mcp", "batch"}
# Commands that render or serve: they get the process's runtime (memory watch, metrics, models),
# made here once and closed when they end.
WITH_RUNTIME = {"render", "run", "serve"}



def _priority(value: str) -> str:
    """--priority by the job model's rule ("HIGH" is high); argparse's choices refuse the rest."""
    return priority_name(value) or value

def add_flag(parser: argparse.ArgumentParser, flag: str, help: str) -> None:  # noqa: A002
    """A store_true flag a subcommand shares with the top level (`--json status` and
    `status --json` both work): SUPPRESS keeps the subparser's default from overwriting
    the top-level value."""
    parser.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help)


def build_parser() -> argparse.ArgumentParser:
    # prog: how it was called, `main_worker.py` or the console script `protovideo`
    parser = argparse.ArgumentParser(description="ProtoVideo worker")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--benchmark", action="store_true", help="run the offline benchmark")
    parser.add_argument("--scenes", type=int, default=5, help="scenes in the benchmark job")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--once", action="store_true", help="(run) drain the queue, then exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="daemon: take jobs from JOB_SOURCE until stopped")
    add_flag(run, "--once", "drain what is queued, then exit (1 when a job failed)")
    run.add_argument("--serve", action="store_true", help="also serve the job API (API_HOST:API_PORT)")
    sub.add_parser("serve", help="the job API and dashboard on API_HOST:API_PORT, no rendering")
    render = sub.add_parser("render", help="render one job file in-process")
    render.add_argument("job", help="job JSON file")
    render.add_argument("-o", "--output", help="output MP4 path")
    render.add_argument("--quiet", action="store_true", help="no progress display")
    submit = sub.add_parser("submit", help="enqueue a job; prints its id")
    submit.add_argument("job", help="job JSON file")
    submit.add_argument("--priority", type=_priority, choices=PRIORITIES)
    submit.add_argument("--rows", metavar="ROWS.csv|ROWS.json",
                        help="a batch: JOB.json is a template, one job per row; prints the batch id")
    submit.add_argument("--batch-callback", metavar="URL", dest="batch_callback",
                        help="(--rows) POST the batch.ended webhook here once every job has ended")
    batch = sub.add_parser("batch", help="a batch's jobs and their states")
    batch.add_argument("batch_id")
    add_flag(batch, "--json", "machine-readable output")
    status = sub.add_parser("status", help="queue depths, or one job's state")
    status.add_argument("job_id", nargs="?")
    add_flag(status, "--json", "machine-readable output")
    jobs = sub.add_parser("list", help="jobs, newest first")
    jobs.add_argument("--state", choices=["queued", "started", "finished", "failed", "cancelled"])
    jobs.add_argument("--priority", type=_priority, choices=PRIORITIES)
    jobs.add_argument("--limit", type=int, default=50, help="at most this many (1-1000; default 50)")
    jobs.add_argument("--cursor", help="go on after the last page (printed at its end)")
    add_flag(jobs, "--json", "machine-readable output")
    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id")
    cancel.add_argument("--wait", action="store_true", help="wait until a running job has stopped")
    validate = sub.add_parser("validate", help="every problem of a job file at once (exit 2 if any)")
    validate.add_argument("job", help="job JSON file")
    validate.add_argument("--rows", metavar="ROWS.csv|ROWS.json",
                          help="JOB.json is a template: check the job of every row")
    add_flag(validate, "--json", "machine-readable output")
    sub.add_parser("mcp", help="an MCP server on stdio: agents validate, submit, watch and fetch jobs "
                              "through the job API")
    cache = sub.add_parser("cache", help="artifact cache statistics and upkeep")
    cache.add_argument("action", choices=["stats", "cleanup", "clear"])
    add_flag(cache, "--json", "machine-readable output")
    return parser


def main(argv: list[str] | None = None,
         make_runtime: Callable[[Settings], Runtime] = Runtime.create) -> int:
    """Run one command; `argv` defaults to sys.argv[1:] (the console script calls main());
    `make_runtime` makes the process's runtime (a test hands in one that renders with a fake)."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = "benchmark" if args.benchmark else (args.command or "run")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if command not in NO_SCRATCH:
        use_private_tmp(settings)
    load_all()   # the plug-ins declare their names and fields to the job model before any job is read
    import storage  # registers the output sinks and the S3 cache level (CACHE_STORE)
    if command == "run":
        try:
            storage.check_store(settings)   # OUTPUT_STORE / CACHE_STORE usable, or stop now
        except storage.StoreUnusable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    module_name, func_name = COMMANDS[command].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    runtime = make_runtime(settings).install() if command in WITH_RUNTIME else None
    try:
        code = int(handler(args, runtime or settings) or 0)
        sys.stdout.flush()
    except SettingsError as exc:   # found while starting: LOG_FILE, METRICS_PORT, API_PORT...
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`cache stats --json | head`): end quietly, as `cat` would;
        # stdout is pointed at /dev/null so the flush at exit cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        if runtime is not None:
            runtime.close()
    return code


def use_private_tmp(settings) -> None:
    """Temp files of libraries (onnxruntime writes TMPDIR/.ses on import) go under WORK_DIR/.tmp,
    a configured folder, instead of the system's /tmp ('.' is never in a job id)."""
    folder = settings.path("WORK_DIR") / ".tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # recomputed from TMPDIR on next use
