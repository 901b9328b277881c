"""``python -m omnicore`` runs the command line."""

from omnicore.cli import main

raise SystemExit(main())
