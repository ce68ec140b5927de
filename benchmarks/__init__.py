"""polythumb's benchmark: ``python -m benchmarks`` (or ``nox -s bench``).

Generates photo-like inputs deterministically (:mod:`benchmarks.photos`),
times the seed's naive code, polythumb (one and three sizes, both engines)
and libvips on its own side by side (:mod:`benchmarks.cases`,
:mod:`benchmarks.timing`), measures peak memory in fresh processes
(:mod:`benchmarks.memory`), output quality (:mod:`benchmarks.quality`),
entrypoint import times (:mod:`benchmarks.imports`) and ``polythumb run``
throughput (:mod:`benchmarks.throughput`), then checks the targets of issue 7
(:mod:`benchmarks.targets`) and writes a table, a JSON file and a chart.
"""
