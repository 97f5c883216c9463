"""``python -m skillrun`` runs the CLI."""

from skillrun.cli import main

raise SystemExit(main())
