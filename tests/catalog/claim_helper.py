"""Run as a separate process by the claim tests: claim runs from a catalog and print their IDs as JSON.

Usage: python -m tests.catalog.claim_helper URL WORKER_ID ATTEMPTS START_FILE

Waits until START_FILE exists (so that every process starts claiming at once), then calls
claim_next_run ATTEMPTS times, keeping each claimed run running, and prints the claimed IDs.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from resguardo.catalog import create_catalog_engine, session_factory
from resguardo.catalog.queries import claim_next_run


def main(url: str, worker_id: str, attempts: int, start_file: Path) -> None:
    engine = create_catalog_engine(url)
    claimed = []
    with session_factory(engine)() as session:
        deadline = time.monotonic() + 60
        while not start_file.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        for _attempt in range(attempts):
            run = claim_next_run(session, worker_id, datetime.now(UTC))
            if run is not None:
                claimed.append(run.id)
    engine.dispose()
    sys.stdout.write(json.dumps(claimed) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
