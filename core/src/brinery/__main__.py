"""``python -m brinery``: the same as the ``brinery`` command."""

from .cli import main

raise SystemExit(main())
