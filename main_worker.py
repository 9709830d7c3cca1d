#!/usr/bin/env python3
"""ProtoVideo worker: entry point for every command (README.md; installed with pip, the same
commands are the console script `protovideo`, which calls main() below).

    python main_worker.py [run] [--once]
    python main_worker.py render JOB.json [-o OUT.mp4]
    python main_worker.py submit JOB.json [--priority P]
    python main_worker.py status [JOB_ID] [--json]
    python main_worker.py cache stats|cleanup|clear [--json]
    python main_worker.py --benchmark --scenes=N [--json]
    python main_worker.py serve                 the job API (API_HOST:API_PORT)
    python main_worker.py run --serve           the daemon and the API in one process
    python main_worker.py mcp                   an MCP server on stdio (docs/MCP.md)
    python main_worker.py --version
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from protovideo.runtime.malloc_tuning import tune  # noqa: E402

tune()  # before any thread exists: see protovideo/runtime/malloc_tuning.py

from protovideo.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
