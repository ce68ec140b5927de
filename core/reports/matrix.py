"""The conformance matrix: behaviour x provider, built from per-test results, as Markdown and HTML.

The results document is what ``tests/e2e/report_plugin.py`` writes (``polythumb-conformance/1``):
one record per test with its suite (``contract``, ``e2e``, ``observed``), behaviour, the rig it ran
on, outcome, call duration and recorded properties. Tests of one behaviour on one provider (other
parameters, such as keys) fold into one cell.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.reports.document import code_spans, html_page, html_table, md_table, paragraph
from core.reports.facts import clouds, reporting

#: The columns that are not providers: the in-memory backend and the local service.
MEMORY, LOCAL = "memory", "local"
#: Storage-contract rigs that are not providers -> their column.
_LOCAL_RIGS: Mapping[str, str] = {"memory": MEMORY, "filesystem": LOCAL, "local": LOCAL}


def columns() -> tuple[str, ...]:
    """The matrix's columns, in order: the in-memory backend, the local service, then one per provider."""
    return (MEMORY, LOCAL, *clouds())


def column_of_rig(rig: str) -> str | None:
    """A test's rig (storage contract rigs and entrypoints) -> its column (providers declare their rigs)."""
    if rig in _LOCAL_RIGS:
        return _LOCAL_RIGS[rig]
    return next((cloud for cloud in clouds() if rig in reporting(cloud).get("rigs", (cloud,))), None)


def _notes(key: str) -> str:
    return "; ".join(note for cloud in clouds() if (note := reporting(cloud).get("matrix_notes", {}).get(key)))


def suites() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """Suite -> (title, the columns it applies to, what the reader should know about where its data comes from)."""
    return {
        "e2e": (
            "End to end, on every entrypoint",
            (LOCAL, *clouds()),
            "Each cell: outcome, the test's measured time, and (fn) the time spent inside the function. Events: "
            f"`local` from the `polythumb watch` poller; {_notes('e2e')}. Timings are from emulators on one "
            "machine, not from a cloud; the `local` times include the poller's stability wait.",
        ),
        "serve": (
            "Serving on first request, on every entrypoint with a serve function",
            (LOCAL, *clouds()),
            "Each cell: outcome and the test's measured time. Requests go through each platform's real serve "
            "entrypoint (`local`: HTTP to `polythumb serve`); "
            + (f"{_notes('serve')}; " if _notes("serve") else "")
            + "a column without a serve entrypoint in this tree is `n/a`. The suite is `tests/e2e/test_serve.py`.",
        ),
        "contract": (
            "Storage contract, on every backend",
            columns(),
            "The storage port's contract (`tests/contract`): memory, the filesystem (`local`), "
            f"{_notes('contract')}.",
        ),
        "observed": (
            "Where the platforms differ (observed by the tests, not written by hand)",
            columns(),
            "Each cell is the value a test recorded on that platform; the test also asserts what polythumb "
            "promises whatever it observed. Backend behaviour is the emulator's, which the provider READMEs "
            "compare with the real services.",
        ),
    }


@dataclass
class Cell:
    """The results of one behaviour on one provider."""

    results: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``fail``, ``pass``, ``skip`` or ``n/a`` (no test)."""
        outcomes = {r["outcome"] for r in self.results}
        if outcomes & {"failed", "error"}:
            return "fail"
        if "passed" in outcomes:
            return "pass"
        return "skip" if outcomes else "n/a"

    @property
    def passed(self) -> int:
        return sum(r["outcome"] == "passed" for r in self.results)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def seconds(self) -> float:
        """Measured call time of the cell's tests."""
        return float(sum(r.get("duration_s", 0.0) for r in self.results))

    @property
    def handler_ms(self) -> float | None:
        """Time spent inside the function, when the tests recorded it."""
        values = [r["properties"]["handler_ms"] for r in self.results if "handler_ms" in r.get("properties", {})]
        return float(sum(values)) if values else None

    @property
    def observed(self) -> list[str]:
        """The distinct values recorded as ``observed``."""
        seen = [str(r["properties"]["observed"]) for r in self.results if "observed" in r.get("properties", {})]
        return list(dict.fromkeys(seen))

    @property
    def messages(self) -> list[str]:
        return [str(r["message"]) for r in self.results if r.get("message")]


@dataclass
class Row:
    """One behaviour across providers."""

    suite: str
    key: str
    behaviour: str
    cells: dict[str, Cell] = field(default_factory=dict)

    def cell(self, column: str) -> Cell:
        return self.cells.get(column, Cell())


@dataclass
class Matrix:
    """Rows per suite, and which providers ran at all."""

    rows: list[Row]
    ran: set[str]
    meta: Mapping[str, Any]

    def suite_rows(self, suite: str) -> list[Row]:
        return [row for row in self.rows if row.suite == suite]

    def counts(self) -> dict[str, int]:
        """Cells by status over the whole matrix (applicable cells only)."""
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for row in self.rows:
            for column in suites()[row.suite][1]:
                status = row.cell(column).status
                if status in counts:
                    counts[status] += 1
        return counts

    @property
    def failed(self) -> bool:
        return self.counts()["fail"] > 0


def load_results(path: Path) -> dict[str, Any]:
    """Read a results document written by the pytest plugin."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != "polythumb-conformance/1":
        raise ValueError(f"{path} is not a polythumb conformance results file (format {document.get('format')!r})")
    return document


def build_matrix(document: Mapping[str, Any]) -> Matrix:
    """Fold per-test results into rows, in the order the tests ran."""
    rows: dict[tuple[str, str], Row] = {}
    ran: set[str] = set()
    for result in document.get("results", []):
        column = column_of_rig(str(result.get("rig")))
        if column is None:
            continue  # a test that runs on no particular platform is not a matrix cell
        suite = str(result["suite"])
        key = result["nodeid"].split("[", 1)[0]
        row = rows.setdefault((suite, key), Row(suite, key, str(result["behaviour"])))
        row.cells.setdefault(column, Cell()).results.append(result)
        ran.add(column)
    meta = {name: value for name, value in document.items() if name != "results"}
    order = list(suites())
    ordered = sorted(rows.values(), key=lambda row: order.index(row.suite) if row.suite in order else 99)
    return Matrix(ordered, ran, meta)


def cell_text(matrix: Matrix, row: Row, column: str) -> tuple[str, str]:
    """A cell's text and its CSS class (``pass``, ``fail``, ``na``, ``obs``)."""
    cell = row.cell(column)
    if not cell.results:
        return ("not run" if column not in matrix.ran else "n/a"), "na"
    if cell.status == "fail":
        detail = " / ".join(cell.observed) or (cell.messages[0].splitlines()[-1] if cell.messages else "")
        return f"FAIL {cell.total - cell.passed}/{cell.total}" + (f": {detail[:160]}" if detail else ""), "fail"
    if cell.status == "skip":
        return "skipped" + (f" ({cell.messages[0][:80]})" if cell.messages else ""), "na"
    if row.suite == "observed":
        return " / ".join(cell.observed) or "pass (nothing recorded)", "obs"
    if row.suite in ("e2e", "serve"):
        text = f"pass · {cell.seconds:.2f} s"
        if cell.handler_ms is not None:
            text += f" (fn {cell.handler_ms / 1000:.2f} s)"
        return text, "pass"
    return ("pass" if cell.total == 1 else f"pass ({cell.passed}/{cell.total})"), "pass"


def _section_table(matrix: Matrix, suite: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    _, suite_columns, _ = suites()[suite]
    header = ["Behaviour", *suite_columns]
    rows, classes = [], []
    for row in matrix.suite_rows(suite):
        texts = [cell_text(matrix, row, column) for column in suite_columns]
        rows.append([row.behaviour, *(text for text, _ in texts)])
        classes.append(["", *(css for _, css in texts)])
    return header, rows, classes


def _summary(matrix: Matrix) -> list[str]:
    meta, counts = matrix.meta, matrix.counts()
    missing = [column for column in columns() if column not in matrix.ran]
    lines = [
        f"Generated {meta.get('generated', '?')} in {meta.get('seconds', '?')} s on {meta.get('platform', '?')}, "
        f"Python {meta.get('python', '?')}; pytest exit status {meta.get('exit_status', '?')}.",
        f"{len(matrix.rows)} behaviours; cells: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['skip']} skipped.",
        f"Providers run: {', '.join(c for c in columns() if c in matrix.ran) or 'none'}"
        + (f"; not run (SDK not installed): {', '.join(missing)}." if missing else "."),
    ]
    return lines


def to_markdown(matrix: Matrix) -> str:
    """The matrix as a Markdown document."""
    out = ["# polythumb conformance matrix", "", *(f"{line}  " for line in _summary(matrix)), ""]
    for suite, (title, _, note) in suites().items():
        if not matrix.suite_rows(suite):
            continue
        header, rows, _ = _section_table(matrix, suite)
        out += [f"## {title}", "", note, "", md_table(header, rows), ""]
    return "\n".join(out)


def to_html(matrix: Matrix) -> str:
    """The matrix as a self-contained HTML page."""
    body = ["<h1>polythumb conformance matrix</h1>", *(paragraph(line) for line in _summary(matrix))]
    for suite, (title, _, note) in suites().items():
        if not matrix.suite_rows(suite):
            continue
        header, rows, classes = _section_table(matrix, suite)
        body += [
            f"<h2>{title}</h2>",
            f'<p class="note">{code_spans(note)}</p>',
            html_table(header, rows, classes=classes),
        ]
    return html_page("polythumb conformance matrix", "\n".join(body))


@dataclass(frozen=True)
class Latency:
    """End-to-end timings of one entrypoint, from the conformance run."""

    column: str
    cases: int
    passed: int
    seconds: float
    handler_ms_median: float | None
    upload_case_s: float | None


def e2e_latency(matrix: Matrix) -> list[Latency]:
    """Per entrypoint: the e2e cases' total time, the median time inside the function per test, and the
    time of the upload -> thumbnails case."""
    latencies = []
    for column in suites()["e2e"][1]:
        cells = [row.cell(column) for row in matrix.suite_rows("e2e") if row.cell(column).results]
        if not cells:
            continue
        per_delivery = [
            r["properties"]["handler_ms"] / r["properties"]["deliveries"]
            for cell in cells
            for r in cell.results
            if r.get("properties", {}).get("deliveries")
        ]
        upload = next(
            (row.cell(column) for row in matrix.suite_rows("e2e") if row.behaviour.startswith("Upload")), None
        )
        latencies.append(
            Latency(
                column=column,
                cases=sum(cell.total for cell in cells),
                passed=sum(cell.passed for cell in cells),
                seconds=sum(cell.seconds for cell in cells),
                handler_ms_median=statistics.median(per_delivery) if per_delivery else None,
                upload_case_s=upload.seconds if upload and upload.results else None,
            )
        )
    return latencies


def observed_values(matrix: Matrix, behaviour_prefix: str) -> dict[str, str]:
    """column -> observed text of the first observed row whose behaviour starts with ``behaviour_prefix``."""
    for row in matrix.suite_rows("observed"):
        if row.behaviour.startswith(behaviour_prefix):
            return {column: " / ".join(row.cell(column).observed) for column in columns() if row.cell(column).observed}
    return {}
