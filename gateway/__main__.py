"""``python -m gateway`` runs the ``wxgate`` command."""

from gateway.cli import main

raise SystemExit(main())
