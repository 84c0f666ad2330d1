"""``make soak``: see tests/soak/soak.py."""

from tests.soak.soak import main

raise SystemExit(main())
