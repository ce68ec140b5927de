"""Fuzz the decode path: ``probe_image`` and ``render_thumbnails`` on mutated images, time-boxed.

Run by ``nox -s fuzz`` (not in the default test run)::

    python tests/reliability/fuzz_decode.py --seconds 60 [--engine atheris|hypothesis] [--out DIR]

Seeds are the files of ``tests/data/corpus``. With atheris (coverage-guided libFuzzer, Python code of
Pillow and polythumb instrumented) the seeds are copied to a scratch corpus; without it, a seeded
mutation loop driven by hypothesis (bit flips, byte runs, truncation, splices, header size fields
overwritten with huge values). A *finding* is any exception other than the classified
:class:`core.errors.ImageError` family; each is saved under ``--out`` and the run exits non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import shutil
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
#: Small enough that no accepted input can exhaust the fuzzer's memory, large enough for every seed.
MAX_PIXELS = 16_000_000
SEED_SUFFIXES = frozenset({".jpg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".ico", ".avif", ".heic"})


def seeds() -> list[bytes]:
    """The corpus files, the fuzzer's starting points."""
    return [path.read_bytes() for path in sorted(CORPUS.iterdir()) if path.suffix.lower() in SEED_SUFFIXES]


def check_one(data: bytes) -> None:
    """Probe and render ``data``; return if it worked or failed as a classified image error, else raise."""
    from core.errors import ImageError
    from core.imaging import Box, Fit, probe_image, render_thumbnails

    with contextlib.suppress(ImageError):
        probe_image(data, max_pixels=MAX_PIXELS)
    for strip in (True, False):
        with contextlib.suppress(ImageError):
            render_thumbnails(
                data, boxes=[Box(64, 64), Box(16, 16)], fit=Fit.CONTAIN, format="jpeg", quality=None,
                strip_metadata=strip, max_pixels=MAX_PIXELS,
            )  # fmt: skip


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """One random structural mutation of ``data`` (``pool`` supplies splice partners)."""
    buffer = bytearray(data or b"\x00")
    how = rng.randrange(7)
    at = rng.randrange(len(buffer))
    if how == 0:  # flip bits
        for _ in range(rng.randint(1, 8)):
            buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    elif how == 1:  # overwrite a run with one byte value
        buffer[at : at + rng.randint(1, 64)] = bytes([rng.choice([0, 0xFF, 0x7F, 0x80])]) * rng.randint(1, 64)
    elif how == 2:  # truncate
        del buffer[at:]
    elif how == 3:  # duplicate a chunk (repeated segments, chunks, IFDs)
        end = min(len(buffer), at + rng.randint(1, 4096))
        buffer[at:at] = buffer[at:end] * rng.randint(1, 8)
    elif how == 4:  # splice with another seed
        other = rng.choice(pool)
        buffer = buffer[:at] + bytearray(other[rng.randrange(max(1, len(other))) :])
    elif how == 5:  # a huge size field somewhere in the header
        offset = rng.randrange(min(len(buffer), 512))
        fmt = rng.choice([">I", "<I", ">H", "<H"])
        value = rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 65_500, 1 << 24])
        value &= 0xFFFF if fmt.endswith("H") else 0xFFFFFFFF
        struct.pack_into(fmt, buffer, offset, value) if offset + struct.calcsize(fmt) <= len(buffer) else None
    else:  # insert random bytes
        buffer[at:at] = rng.randbytes(rng.randint(1, 256))
    return bytes(buffer)


def mutations(pool: list[bytes], rng: random.Random) -> Iterator[bytes]:
    """An endless stream of inputs: seeds with 1-4 stacked mutations."""
    while True:
        data = rng.choice(pool)
        for _ in range(rng.randint(1, 4)):
            data = mutate(data, rng, pool)
        yield data


def save_finding(out: Path, data: bytes, error: BaseException) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"crash-{hashlib.sha256(data).hexdigest()[:16]}"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    return path


def run_hypothesis(seconds: float, out: Path, seed: int) -> int:
    """The fallback engine: hypothesis picks seeds and mutation seeds, ``mutate`` does the damage."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pool = seeds()
    findings: list[Path] = []
    deadline = time.monotonic() + seconds
    runs = 0

    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(index=st.integers(0, len(pool) - 1), mutation_seed=st.integers(0, 2**32 - 1))
    def one(index: int, mutation_seed: int) -> None:
        nonlocal runs
        rng = random.Random(mutation_seed)
        data = pool[index]
        for _ in range(rng.randint(1, 4)):
            data = mutate(data, rng, pool)
        runs += 1
        try:
            check_one(data)
        except ImportError:
            raise  # the environment broke (a package went missing), not the decoder: stop, report no findings
        except Exception as exc:  # a finding: keep it, keep fuzzing
            findings.append(save_finding(out, data, exc))

    random.seed(seed)
    while time.monotonic() < deadline:
        one()
    print(f"hypothesis: {runs} inputs in {seconds:.0f} s, {len(findings)} findings", file=sys.stderr)
    for path in findings:
        print(f"  finding: {path}", file=sys.stderr)
    return 1 if findings else 0


def run_atheris(seconds: float, out: Path) -> int:
    """Coverage-guided fuzzing with atheris (libFuzzer); a finding stops the run, as libFuzzer does."""
    import atheris

    with atheris.instrument_imports():
        import PIL.Image  # noqa: F401 -- instrumented for coverage

        import core.imaging.render  # noqa: F401

    scratch = Path(tempfile.mkdtemp(prefix="polythumb-fuzz-"))
    for path in CORPUS.iterdir():
        if path.suffix.lower() in SEED_SUFFIXES:
            shutil.copy(path, scratch / path.name)
    out.mkdir(parents=True, exist_ok=True)
    arguments = [sys.argv[0], f"-max_total_time={int(seconds)}", "-rss_limit_mb=2048", "-timeout=30",
                 "-max_len=2000000", f"-artifact_prefix={out}/", str(scratch)]  # fmt: skip
    atheris.Setup(arguments, check_one)
    atheris.Fuzz()  # exits the process: 0 when time is up, non-zero with a crash file on a finding
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time box (default 60)")
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--out", type=Path, default=Path(".fuzz-findings"), help="where findings are saved")
    parser.add_argument("--seed", type=int, default=8, help="seed of the hypothesis engine's mutations")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
        except ImportError:
            engine = "hypothesis"
        else:
            engine = "atheris"
    print(f"fuzzing the decode path with {engine} for {args.seconds:.0f} s", file=sys.stderr)
    if engine == "atheris":
        return run_atheris(args.seconds, args.out.resolve())
    return run_hypothesis(args.seconds, args.out.resolve(), args.seed)


if __name__ == "__main__":
    sys.exit(main())
