"""The conformance matrix builder and the recording plugin: fixed results in, expected cells out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.reports import conformance
from core.reports.matrix import (
    build_matrix,
    cell_text,
    e2e_latency,
    load_results,
    observed_values,
    to_html,
    to_markdown,
)

ROOT = Path(__file__).resolve().parents[1]


def result(
    nodeid: str, suite: str, behaviour: str, rig: str, outcome: str = "passed", duration: float = 0.1, **properties: Any
) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "suite": suite,
        "behaviour": behaviour,
        "rig": rig,
        "outcome": outcome,
        "duration_s": duration,
        "properties": properties,
        "test": nodeid.rsplit("::", maxsplit=1)[-1].split("[", maxsplit=1)[0],
    }


@pytest.fixture
def document() -> dict[str, Any]:
    e2e = "tests/e2e/test_entrypoints.py::test_upload"
    dup = "tests/e2e/test_entrypoints.py::test_dup"
    keys = "tests/contract/test_storage_contract.py::test_tricky_keys"
    obs = "tests/contract/test_observed_storage.py::test_etag"
    return {
        "format": "polythumb-conformance/1",
        "generated": "2026-01-02T03:04:05Z",
        "seconds": 12.5,
        "python": "3.11.7",
        "platform": "test",
        "exit_status": 1,
        "results": [
            result(
                f"{e2e}[local]",
                "e2e",
                "Upload makes thumbnails.",
                "local",
                duration=0.5,
                handler_ms=120.0,
                deliveries=1,
            ),
            result(
                f"{e2e}[aws]", "e2e", "Upload makes thumbnails.", "aws", duration=0.25, handler_ms=40.0, deliveries=2
            ),
            result(f"{dup}[aws]", "e2e", "Duplicate does nothing.", "aws", "failed", 0.3, handler_ms=10.0, deliveries=2)
            | {"message": "AssertionError: revisions changed"},
            *(
                result(f"{keys}[{rig}-{n}]", "contract", "tricky keys keep their identity", rig)
                for rig in ("memory", "s3")
                for n in range(3)
            ),
            result(f"{keys}[gcs-0]", "contract", "tricky keys keep their identity", "gcs", "skipped")
            | {"message": "emulator down"},
            result(f"{obs}[s3]", "observed", "ETag <as sent>", "s3", observed='HEAD `"<32 hex>"`'),
            result(f"{obs}[azure]", "observed", "ETag <as sent>", "azure", observed="HEAD `0x<hex>` | bare"),
            result("tests/contract/test_x.py::test_no_rig", "contract", "no rig", "None"),
        ],
    }


def test_rows_fold_parameters_per_behaviour_and_provider(document: dict[str, Any]) -> None:
    matrix = build_matrix(document)
    assert [(row.suite, row.behaviour) for row in matrix.rows] == [
        ("e2e", "Upload makes thumbnails."),
        ("e2e", "Duplicate does nothing."),
        ("contract", "tricky keys keep their identity"),
        ("observed", "ETag <as sent>"),
    ]  # the test with no rig is not a cell
    keys = matrix.rows[2]
    assert (keys.cell("aws").passed, keys.cell("aws").total) == (3, 3)
    assert matrix.ran == {"local", "aws", "memory", "gcp", "azure"}
    assert matrix.counts() == {"pass": 6, "fail": 1, "skip": 1}
    assert matrix.failed


def test_cells_say_pass_fail_time_and_observation(document: dict[str, Any]) -> None:
    matrix = build_matrix(document)
    upload, dup, keys, etag = matrix.rows
    assert cell_text(matrix, upload, "local") == ("pass · 0.50 s (fn 0.12 s)", "pass")
    assert cell_text(matrix, upload, "gcp") == ("n/a", "na")  # gcp ran (a contract test) but has no e2e result
    assert cell_text(matrix, dup, "aws") == ("FAIL 1/1: AssertionError: revisions changed", "fail")
    assert cell_text(matrix, keys, "memory") == ("pass (3/3)", "pass")
    assert cell_text(matrix, keys, "gcp") == ("skipped (emulator down)", "na")
    assert cell_text(matrix, etag, "aws") == ('HEAD `"<32 hex>"`', "obs")
    assert cell_text(matrix, etag, "memory") == ("n/a", "na")


def test_a_provider_that_did_not_run_is_not_run() -> None:
    document = {"format": "polythumb-conformance/1", "results": [result("a.py::t[local]", "e2e", "B", "local")]}
    matrix = build_matrix(document)
    assert cell_text(matrix, matrix.rows[0], "azure") == ("not run", "na")
    assert "not run (SDK not installed): memory, aws, azure, gcp" in to_markdown(matrix)


def test_markdown_has_one_table_per_suite_with_escaped_pipes(document: dict[str, Any]) -> None:
    text = to_markdown(build_matrix(document))
    assert text.startswith("# polythumb conformance matrix")
    assert "| Behaviour | local | aws | azure | gcp |" in text  # e2e: no memory column
    assert "| Behaviour | memory | local | aws | azure | gcp |" in text
    assert "| Upload makes thumbnails. | pass · 0.50 s (fn 0.12 s) | pass · 0.25 s (fn 0.04 s) | n/a | n/a |" in text
    assert "HEAD `0x<hex>` \\| bare" in text
    assert "cells: 6 pass, 1 fail, 1 skipped" in text


def test_html_is_self_contained_and_escaped(document: dict[str, Any]) -> None:
    page = to_html(build_matrix(document))
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<link" not in page and "<script" not in page and "src=" not in page
    assert '<td class="fail">FAIL 1/1: AssertionError: revisions changed</td>' in page
    assert "ETag &lt;as sent&gt;" in page  # behaviour text escaped
    assert "<code>&quot;&lt;32 hex&gt;&quot;</code>" in page  # backticks become code, contents escaped


def test_latency_and_observations_for_the_lockin_report(document: dict[str, Any]) -> None:
    matrix = build_matrix(document)
    latency = {lat.column: lat for lat in e2e_latency(matrix)}
    assert set(latency) == {"local", "aws"}
    assert (latency["aws"].cases, latency["aws"].passed) == (2, 1)
    assert latency["aws"].seconds == pytest.approx(0.55)
    assert latency["aws"].handler_ms_median == pytest.approx(12.5)  # median of 40/2 and 10/2 per delivery
    assert latency["local"].upload_case_s == pytest.approx(0.5)
    assert observed_values(matrix, "ETag") == {"aws": 'HEAD `"<32 hex>"`', "azure": "HEAD `0x<hex>` | bare"}


def test_results_of_another_format_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="not a polythumb conformance results file"):
        load_results(path)


def test_conformance_renders_a_given_results_file(tmp_path: Path, document: dict[str, Any]) -> None:
    results = tmp_path / "conformance.json"
    results.write_text(json.dumps(document))
    assert conformance.main(["--results", str(results), "--out", str(tmp_path / "out")]) == conformance.EXIT_FAILED
    assert "FAIL 1/1" in (tmp_path / "out" / "conformance.md").read_text()
    assert (tmp_path / "out" / "conformance.html").read_text().startswith("<!DOCTYPE html>")

    document["results"] = [r for r in document["results"] if r["outcome"] != "failed"]
    results.write_text(json.dumps(document))
    assert conformance.main(["--results", str(results), "--out", str(tmp_path / "out")]) == conformance.EXIT_OK
    results.write_text("{}")
    assert conformance.main(["--results", str(results), "--out", str(tmp_path / "out")]) == conformance.EXIT_UNUSABLE


def test_conformance_needs_the_test_suites(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="source checkout"):
        conformance.run_suites(tmp_path / "r.json", root=tmp_path)


def test_the_plugin_records_behaviour_rig_outcome_and_properties(tmp_path: Path) -> None:
    tests = tmp_path / "test_sample.py"
    tests.write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('store', ['memory', 's3'])\n"
        "def test_round_trip(store, record_property):\n"
        "    '''Bytes come back.'''\n"
        "    record_property('observed', f'seen on {store}')\n"
        "    assert store == 'memory'\n"
        "def test_plain_name():\n"
        "    pass\n"
    )
    output = tmp_path / "results.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tests),
            "-p",
            "tests.e2e.report_plugin",
            f"--conformance-json={output}",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=False,
    )
    document = load_results(output)
    by_id = {r["nodeid"].split("::")[1]: r for r in document["results"]}
    assert by_id["test_round_trip[memory]"] | {"duration_s": 0} == {
        "nodeid": "test_sample.py::test_round_trip[memory]",
        "order": 0,
        "suite": "contract",
        "test": "test_round_trip",
        "behaviour": "Bytes come back.",
        "rig": "memory",
        "outcome": "passed",
        "duration_s": 0,
        "properties": {"observed": "seen on memory"},
    }
    assert by_id["test_round_trip[s3]"]["outcome"] == "failed"
    assert "assert 's3' == 'memory'" in by_id["test_round_trip[s3]"]["message"]
    assert (by_id["test_plain_name"]["behaviour"], by_id["test_plain_name"]["rig"]) == ("plain name", None)
    assert document["exit_status"] == 1


def test_the_serve_suite_has_a_section_of_its_own_on_every_entrypoint() -> None:
    """tests/e2e/test_serve*.py results (parameter ``serving``) form the serve section, cells with their times."""
    from tests.e2e.report_plugin import RIG_PARAMETERS, suite_of

    assert suite_of("tests/e2e/test_serve.py") == "serve" and "serving" in RIG_PARAMETERS
    first = "tests/e2e/test_serve.py::test_first"
    document = {
        "format": "polythumb-conformance/1",
        "results": [
            result(f"{first}[local]", "serve", "First request renders.", "local", duration=1.5),
            result("tests/e2e/test_serve.py::test_tamper[local]", "serve", "Tampered URL refused: 403.", "local"),
        ],
    }
    matrix = build_matrix(document)
    assert [row.suite for row in matrix.rows] == ["serve", "serve"]
    assert cell_text(matrix, matrix.rows[0], "local") == ("pass · 1.50 s", "pass")
    assert cell_text(matrix, matrix.rows[0], "aws") == ("not run", "na")
    text = to_markdown(matrix)
    assert "## Serving on first request, on every entrypoint with a serve function" in text
    assert "| Behaviour | local | aws | azure | gcp |" in text.split("## Serving on first request")[1]
