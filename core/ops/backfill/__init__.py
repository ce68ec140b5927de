"""Backfill and reconcile: bring a destination in step with everything already in a source.

``polythumb backfill`` plans first, then executes the plan here or on a cloud.
Small modules, one job each:

* :mod:`~core.ops.backfill.planner` -- list both sides and classify every source as
  missing / stale / current, and every polythumb-written destination object no
  current source explains as orphaned, without downloading an image;
  helped by :mod:`~core.ops.backfill.keyspace` (where thumbnails can live),
  :mod:`~core.ops.backfill.sorting` (an external sort, for bounded memory) and
  :mod:`~core.ops.backfill.concurrency` (an order-preserving bounded thread pool
  for ``head`` requests);
* :mod:`~core.ops.backfill.report` -- the dry run's counts and samples;
* :mod:`~core.ops.backfill.job` -- one job's identity, default files, and planning
  it into a :mod:`~core.ops.backfill.spool` (the work items on disk);
* :mod:`~core.ops.backfill.checkpoint` -- the resumable position: a low-water mark
  of contiguous completed keys, written atomically;
* :mod:`~core.ops.backfill.executor` -- local mode: render in a process pool;
* :mod:`~core.ops.backfill.dispatch` -- cloud mode: the provider-neutral driver
  (batches, :mod:`~core.ops.backfill.ratelimit`, retries,
  :mod:`~core.ops.backfill.deadletter`) over a provider's ``WorkSink``, whose
  contract its docstring states; :mod:`~core.ops.backfill.memory_sink` is the
  reference sink;
* :mod:`~core.ops.backfill.orphans` -- delete an orphan after checking it again.

``--target <provider>`` finds the provider's sink and storage in :mod:`core.registry`, lazily.
"""

from __future__ import annotations
