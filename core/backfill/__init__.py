"""Backfill and reconcile: bring a destination in step with everything already in a source.

``polythumb backfill`` plans first, then executes the plan here or on a cloud.
Small modules, one job each:

* :mod:`~core.backfill.plan` -- list both sides and classify every source as
  missing / stale / current, and every polythumb-written destination object no
  current source explains as orphaned, without downloading an image;
  helped by :mod:`~core.backfill.keyspace` (where thumbnails can live),
  :mod:`~core.backfill.sorting` (an external sort, for bounded memory) and
  :mod:`~core.backfill.concurrency` (an order-preserving bounded thread pool
  for ``head`` requests);
* :mod:`~core.backfill.report` -- the dry run's counts and samples;
* :mod:`~core.backfill.job` -- one job's identity, default files, and planning
  it into a :mod:`~core.backfill.spool` (the work items on disk);
* :mod:`~core.backfill.checkpoint` -- the resumable position: a low-water mark
  of contiguous completed keys, written atomically;
* :mod:`~core.backfill.local` -- local mode: render in a process pool;
* :mod:`~core.backfill.dispatch` -- cloud mode: the provider-neutral driver
  (batches, :mod:`~core.backfill.ratelimit`, retries,
  :mod:`~core.backfill.deadletter`) over a provider's ``WorkSink``, whose
  contract its docstring states; :mod:`~core.backfill.memory` is the
  reference sink;
* :mod:`~core.backfill.orphans` -- delete an orphan after checking it again.

``--target <provider>`` finds the provider's sink and storage in :mod:`core.registry`, lazily.
"""

from __future__ import annotations
