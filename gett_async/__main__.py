"""``python -m gett_async``: the same as the ``gett-async`` console script."""

from .cli import main

raise SystemExit(main())
