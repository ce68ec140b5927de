"""Operator tools: what a person runs on their own machine, never part of a cloud package.

* :mod:`core.ops.cli` -- the ``polythumb`` command (:mod:`core.ops.console`: what its commands share);
* :mod:`core.ops.runner` -- the local service (``polythumb run`` / ``watch``) over directories;
* :mod:`core.ops.pool` -- the one process pool both local runs use;
* :mod:`core.ops.backfill` -- ``polythumb backfill``: plan, local execution, cloud fan-out;
* :mod:`core.ops.packaging` -- the files a cloud package carries (the function runtime and one provider).

These modules import the function runtime (:mod:`core.pipeline`, :mod:`core.delivery`, ...); the runtime never
imports them (``tests/test_architecture.py`` checks it).
"""
