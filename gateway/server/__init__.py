"""The aiohttp adapter: the only package (with the simulator) that imports ``aiohttp.web``."""
