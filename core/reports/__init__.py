"""Reports a team can put in front of a decision: the conformance matrix and the lock-in report.

* :mod:`core.reports.conformance` -- ``polythumb conformance``: runs the contract and end-to-end
  suites (pytest, in a subprocess) and writes the behaviour x provider matrix;
* :mod:`core.reports.matrix` -- that matrix, built from the per-test results, as Markdown and HTML;
* :mod:`core.reports.lockin` -- ``polythumb lockin``: code per layer, provider-specific concepts,
  cold starts, latency, a monthly cost estimate and what a move between clouds takes;
* :mod:`core.reports.source_metrics`, :mod:`core.reports.concepts`, :mod:`core.reports.coldstart`,
  :mod:`core.reports.workload`, :mod:`core.reports.costs`, :mod:`core.reports.migration`,
  :mod:`core.reports.charts`, :mod:`core.reports.document` -- one measurement or one format each.

Nothing here imports a cloud SDK or pytest at import time: what needs them runs in a subprocess.
"""

from __future__ import annotations
