"""``python -m gateway.simulator [--host H] [--port P] [--config PATH]``: run the simulator alone.

Apps come from ``--config`` (default: the dev configuration), as ``wxgate simulate`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gateway.config import DEV_CONFIG_PATH, load_config
from gateway.simulator.app import run_simulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--config", default=str(DEV_CONFIG_PATH))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = load_config(args.config, dev=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulator(config, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
