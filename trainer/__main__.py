"""`python -m trainer --url URL --token TOKEN`: a trainer worker."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from trainer.worker import serve


def read_token_file(path: Path, *, wait: float = 120.0) -> str:
    """The token in the file; in docker compose a one-shot service writes it, so wait a little."""
    deadline = time.monotonic() + wait
    while True:
        if path.exists() and (token := path.read_text().strip()):
            return token
        if time.monotonic() > deadline:
            raise SystemExit(f"no worker token in {path} after {wait:.0f} s")
        logging.getLogger("trainer").info("waiting for a worker token in %s", path)
        time.sleep(2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("STUDIO_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--token",
        default=os.environ.get("STUDIO_WORKER_TOKEN"),
        help="a worker-scope API token (or STUDIO_WORKER_TOKEN)",
    )
    parser.add_argument(
        "--token-file",
        default=os.environ.get("STUDIO_WORKER_TOKEN_FILE"),
        help="read the token from this file (or STUDIO_WORKER_TOKEN_FILE); waits for it",
    )
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between claims")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this worker exits",
    )
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    if not args.token and args.token_file:
        args.token = read_token_file(Path(args.token_file))
    if not args.token:
        parser.error("a worker token is required (--token, --token-file or STUDIO_WORKER_TOKEN)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun: NCCL between GPUs, gloo between CPU processes.
        import torch
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    serve(
        args.url, args.token, once=args.once, poll=args.poll, exit_with_parent=args.exit_with_parent
    )


if __name__ == "__main__":
    main()
