"""The soak's gateway process: ``wxgate serve --dev`` (uvloop, the dev config with its
environment overrides) plus a sampler that writes the event loop's task count to a file every
second (a count only the process itself can see)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from gateway.config import DEV_CONFIG_PATH, load_config, os_environ
from gateway.logs import configure_logging
from gateway.server.run import serve
from gateway.server.workers import install_uvloop


async def _sample(path: Path) -> None:
    while True:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tasks": len(asyncio.all_tasks())}))
        os.replace(tmp, path)  # the reader never sees a half-written file
        await asyncio.sleep(1.0)


async def _run(port: int, stats: Path) -> None:
    config = load_config(DEV_CONFIG_PATH, os_environ(), dev=True).with_bind("127.0.0.1", port)
    configure_logging(config.logging.level)
    sampler = asyncio.create_task(_sample(stats))
    try:
        await serve(config)
    finally:
        sampler.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    install_uvloop()
    asyncio.run(_run(args.port, args.stats))


if __name__ == "__main__":
    main()
