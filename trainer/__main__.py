"""`python -m trainer --url URL --token TOKEN`: a trainer worker."""

from __future__ import annotations

import argparse
import logging
import os

from trainer.worker import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("STUDIO_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--token",
        default=os.environ.get("STUDIO_WORKER_TOKEN"),
        help="a worker-scope API token (or STUDIO_WORKER_TOKEN)",
    )
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between claims")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this worker exits",
    )
    args = parser.parse_args()
    if not args.token:
        parser.error("a worker token is required (--token or STUDIO_WORKER_TOKEN)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    serve(
        args.url, args.token, once=args.once, poll=args.poll, exit_with_parent=args.exit_with_parent
    )


if __name__ == "__main__":
    main()
