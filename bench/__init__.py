"""brinery's benchmark suite: dump/load time, memory and size against pickle, numpy, joblib and
blosc2, plus the codec ceiling and the import time.

Run it with ``nox -s bench`` or ``python -m bench`` (see README.md here).  It is not part of the
test run: timings on a shared machine are reported, not asserted; ``nox -s bench_smoke`` runs a
tiny version in CI and checks that the outputs are produced and well-formed.

Modules: :mod:`.datasets` builds the data, :mod:`.strategies` knows how each library dumps and
loads, :mod:`.measure` is the fresh-process worker, :mod:`.probes` measures the codec ceiling
and the import time, :mod:`.stats` and :mod:`.targets` turn runs into figures and verdicts,
:mod:`.report` and :mod:`.plots` write them, :mod:`.machine` describes the machine,
:mod:`.check` validates the outputs, and :mod:`.run` drives it all.
"""
