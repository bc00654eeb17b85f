"""``python -m bench``: the whole suite (see :mod:`bench.run`)."""

from .run import main

raise SystemExit(main())
