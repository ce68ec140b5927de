"""The fuzz harness of ``nox -s fuzz``, exercised briefly in the default run.

The long, time-boxed fuzzing is not part of the test suite; these tests keep the harness honest: a seeded
sample of mutated corpus files decodes or fails as classified image errors, and an unclassified error is
reported as a finding (the harness can fail).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import fuzz_decode

SAMPLE = 60


@pytest.mark.filterwarnings("ignore")  # Pillow warns about the corrupt data it is fed, by design
def test_a_seeded_sample_of_mutated_corpus_files_fails_only_as_image_errors() -> None:
    pool = fuzz_decode.seeds()
    assert len(pool) >= 50, "the corpus seeds the fuzzer"
    inputs = fuzz_decode.mutations(pool, random.Random(20260101))
    for _ in range(SAMPLE):
        fuzz_decode.check_one(next(inputs))  # raises on anything but the ImageError family


def test_an_unclassified_error_is_a_finding(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def crashes(data: bytes) -> None:
        raise KeyError("a decoder bug")

    monkeypatch.setattr(fuzz_decode, "check_one", crashes)
    assert fuzz_decode.run_hypothesis(0.1, tmp_path, seed=1) == 1
    saved = sorted(tmp_path.glob("crash-*"))
    assert saved and any(p.suffix == ".txt" and "a decoder bug" in p.read_text() for p in saved)


def test_check_one_lets_only_image_errors_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.imaging.render as render

    def broken_probe(data: bytes, *, max_pixels: int) -> None:
        raise IndexError("unclassified")

    monkeypatch.setattr(render, "probe_image", broken_probe)
    with pytest.raises(IndexError):
        fuzz_decode.check_one(b"\x89PNG\r\n\x1a\n")
