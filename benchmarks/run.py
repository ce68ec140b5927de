"""One benchmark run: every input through every case, then memory, imports and throughput."""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import cases, deployed, formats, imports, memory, peers, photos, quality, throughput, timing
from benchmarks.cases import LARGE, ONE, QUALITY, THREE

#: Cases whose peak RSS is measured (each in a fresh process), per suite.
RSS_CASES = {
    "full": ("seed_256", "seed_1024", "pillow_256", "pillow_x3", "vips_256", "vips_x3", "ref_x3"),
    "quick": ("seed_256", "pillow_256", "pillow_x3", "vips_256", "vips_x3"),
    "tiny": ("seed_256", "pillow_x3", "vips_x3"),
}
_ONE_SIZE = ("floor_256", "seed_256", "pillow_256", "vips_256", "ref_256")
_THREE_SIZES = ("seed_128", "seed_512", "seed_1024", "pillow_x3", "vips_x3")
#: The quick suite measures, per input, what the targets need (None: every case); the full suite all.
QUICK_CASES: dict[str, tuple[str, ...] | None] = {
    "jpeg-12mp": None,
    "jpeg-50mp": (*_ONE_SIZE, *_THREE_SIZES),
    "png-12mp": (*_ONE_SIZE, "pillow_x3", "vips_x3"),
    "webp-12mp": (*_ONE_SIZE, "pillow_x3", "vips_x3"),
}
#: Inputs whose memory the quick and tiny suites probe (the memory targets' and the common ones).
QUICK_RSS = ("jpeg-12mp", "jpeg-50mp", "png-12mp", "webp-12mp", "jpeg-tiny", "webp-tiny")
#: HEIC: only polythumb's own cases (the seed cannot open it, libvips' prebuilt binaries have no HEVC).
HEIC_CASES = ("pillow_256", "pillow_x3")
#: Real photographs in the quick suite (small: every one-size case, and three sizes).
REAL_CASES = (*_ONE_SIZE, "pillow_x3", "vips_x3")
#: The peer's cases: sharp the Firebase way (one pipeline per size), and sharp's best (one decode, clones).
SHARP_CASES: dict[str, tuple[str, tuple[int, ...]]] = {
    "sharp_256": ("firebase", (ONE,)),
    "sharp_x3": ("firebase", THREE),
    "sharpbest_x3": ("best", THREE),
}
#: Cases of each cloud's package as deployed.
DEPLOYED_SIZES: dict[str, tuple[int, ...]] = {"256": (ONE,), "x3": THREE}
#: The memory probes of the peer (fresh Node process each), on the inputs whose memory is probed.
SHARP_RSS = ("sharp_x3", "sharpbest_x3")


@dataclass(frozen=True)
class Options:
    """What to run; ``python -m benchmarks --help`` describes each."""

    suite: str = "full"
    repeats: int = 11
    budget_s: float = 30.0
    out: Path = Path("reports/bench")
    cache: Path = Path("reports/bench/cache")
    rss: bool = True
    imports: bool = True
    import_repeats: int = 7
    throughput: bool = True
    throughput_repeats: int = 3
    formats: bool = True
    sharp: bool = True
    deployed: tuple[str, ...] = ("aws", "gcp", "azure")
    deployed_repeats: int = 5
    only: tuple[str, ...] = field(default_factory=tuple)


Log = Callable[[str], None]


def run(options: Options, *, log: Log) -> dict[str, Any]:
    """Runs the benchmark and returns its results (the JSON document)."""
    has_vips = cases.vips_installed()
    results: dict[str, Any] = {"meta": _meta(options, has_vips), "photos": []}
    with contextlib.ExitStack() as stack:
        sharp = _start_sharp(options, results, stack, log=log)
        packages = _start_deployed(options, results, stack, log=log)
        for photo in photos.SUITES[options.suite]:
            if options.only and photo.name not in options.only:
                continue
            if photo.real and not photos.real_photos_available():
                log(f"{photo.name}: skipped, scikit-image's photos are not installed: {photos.REAL_HINT}")
                continue
            if photo.kind == "heic" and not photos.heic_available():
                log(f"{photo.name}: skipped, pillow-heif is not installed (pip install '.[heif]')")
                continue
            log(f"{photo.name}: generating/reading input")
            path = photos.cached(photo, options.cache)
            peers_of = _peer_runners(photo, path, sharp, packages)
            results["photos"].append(
                _bench_photo(photo, path, options, has_vips=has_vips, log=log, extra=peers_of, sharp=sharp is not None)
            )
    if options.imports:
        results["imports"] = []
        for provider in imports.PROVIDERS:
            if not imports.installed(provider):
                log(f"imports: {provider.name} SDK not installed, skipped")
                continue
            log(f"imports: {provider.name}")
            results["imports"].append(imports.measure(provider, repeats=options.import_repeats))
    if options.formats:
        base = photos.SUITES[options.suite][0]  # the 12 MP baseline JPEG (tiny in the smoke suite)
        log(f"formats: {base.name}, 3 sizes x AVIF+WebP+JPEG vs JPEG alone")
        results["formats"] = formats.measure(
            photos.cached(base, options.cache), repeats=options.repeats, budget_s=options.budget_s
        )
    if options.throughput:
        base = photos.SUITES[options.suite][0]  # the 12 MP baseline JPEG (tiny in the smoke suite)
        folder = throughput.make_folder(photos.cached(base, options.cache), options.cache / f"run-{base.name}")
        log(f"throughput: polythumb run on {throughput.IMAGES} images, 1 and 2 workers")
        results["throughput"] = throughput.measure(folder, repeats=options.throughput_repeats)
    return results


def _start_sharp(
    options: Options, results: dict[str, Any], stack: contextlib.ExitStack[Any], *, log: Log
) -> peers.SharpWorker | None:
    """The sharp peer's long-lived Node process, or None (not asked for, or not installed: said in meta)."""
    reason = peers.unavailable_reason() if options.sharp else "not asked for (--no-sharp)"
    if reason is not None:
        log(f"sharp: skipped, {reason}")
        results["meta"]["sharp"] = {"skipped": reason}
        return None
    worker = stack.enter_context(peers.SharpWorker())
    results["meta"]["sharp"] = worker.versions()
    return worker


def _start_deployed(
    options: Options, results: dict[str, Any], stack: contextlib.ExitStack[Any], *, log: Log
) -> dict[str, deployed.DeployedWorker]:
    """Each asked-for cloud's package, built, unpacked and started; its cold start measured first."""
    workers: dict[str, deployed.DeployedWorker] = {}
    results["deployed"] = []
    for cloud in options.deployed:
        log(f"deployed: building and unpacking the {cloud} package (x86_64, Python {deployed.PYTHON})")
        try:
            package = deployed.build(cloud, options.cache / "deployed")
        except Exception as exc:  # a cloud whose package cannot be built here is reported, not fatal
            log(f"deployed: {cloud} skipped: {type(exc).__name__}: {exc}")
            results["deployed"].append({"provider": cloud, "skipped": f"{type(exc).__name__}: {exc}"})
            continue
        log(f"deployed: {cloud} cold start, {options.deployed_repeats} fresh interpreters")
        results["deployed"].append(deployed.coldstart(package, repeats=options.deployed_repeats))
        workers[cloud] = stack.enter_context(deployed.DeployedWorker(package))
    if workers:
        # The control for the package gap: this venv's code and wheels run exactly as a package is (a worker
        # process under python -S, timing itself), so package vs venv compares like with like.
        workers[deployed.DEV_VENV] = stack.enter_context(deployed.DeployedWorker(deployed.dev_venv()))
    return workers


def _peer_runners(
    photo: photos.Photo, path: Path, sharp: peers.SharpWorker | None, packages: dict[str, deployed.DeployedWorker]
) -> dict[str, Callable[[], Any]]:
    """The cases that run in another process for this input: sharp's, and each deployed package's."""
    runners: dict[str, Callable[[], Any]] = {}
    if sharp is not None:
        for name, (mode, sizes) in SHARP_CASES.items():
            runners[name] = functools.partial(sharp.render, path, mode=mode, sizes=sizes, quality=QUALITY)
    for cloud, worker in packages.items():
        for label, sizes in DEPLOYED_SIZES.items():
            runners[deployed.case_name(cloud, label)] = functools.partial(worker.render, path, sizes=sizes,
                                                                          quality=QUALITY)  # fmt: skip
    return runners


def _meta(options: Options, has_vips: bool) -> dict[str, Any]:
    from PIL import __version__ as pillow_version

    vips_version = None
    if has_vips:
        pyvips = cases.load_pyvips()
        vips_version = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    return {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "suite": options.suite,
        "repeats": options.repeats,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "pillow": pillow_version,
        "libvips": vips_version,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        # Other work on the machine at the start: medians resist it, but a high figure explains noise.
        "load_average_at_start": os.getloadavg()[0],
        "sizes": {"one": ONE, "large": LARGE, "three": list(THREE)},
        "output": f"JPEG q{cases.QUALITY}",
        "vips_concurrency": os.environ.get("VIPS_CONCURRENCY"),
    }


def _bench_photo(
    photo: photos.Photo,
    path: Path,
    options: Options,
    *,
    has_vips: bool,
    log: Log,
    extra: dict[str, Callable[[], Any]],
    sharp: bool,
) -> dict[str, Any]:
    data = path.read_bytes()
    wanted = QUICK_CASES.get(photo.name, _ONE_SIZE) if options.suite == "quick" else None
    if photo.real and options.suite == "quick":
        wanted = REAL_CASES
    if photo.kind == "heic":
        wanted = HEIC_CASES
    selected = [
        case
        for case in cases.all_cases()
        if (has_vips or not case.needs_vips) and (wanted is None or case.name in wanted)
    ]
    runners: dict[str, Callable[[], Any]] = {case.name: case.runner(data) for case in selected}
    log(f"{photo.name}: warm-up and quality")
    outputs: dict[str, list[bytes]] = {}
    failures: dict[str, str] = {}
    for name, runner in [*runners.items(), *extra.items()]:  # also the warm-up round
        try:
            produced = runner()
        except (peers.SharpError, RuntimeError) as exc:  # the peer cannot read it (sharp has no HEVC decoder)
            failures[name] = str(exc).splitlines()[0][:200]
            continue
        outputs[name] = produced.outputs if isinstance(produced, timing.SelfTimed) else produced
        runners[name] = runner
    reference = quality.reference_image(data)
    log(f"{photo.name}: timing {len(runners)} cases, at least {options.repeats} rounds, interleaved")
    timings = timing.interleaved(runners, repeats=options.repeats, warmup=0, budget_s=options.budget_s)
    if all(f"seed_{size}" in timings for size in THREE):
        timings["seed_x3"] = timing.summed(timings, [f"seed_{size}" for size in THREE])
    result: dict[str, Any] = {
        "name": photo.name,
        "kind": photo.kind,
        "width": photo.width,
        "height": photo.height,
        "megapixels": round(photo.megapixels, 1),
        "bytes": len(data),
        "cases": {},
        "engine": {},
        "failed": failures,
        "licence": photos.REAL_PHOTOS[photo.real][1] if photo.real else "generated",
    }
    for name, measured in timings.items():
        entry: dict[str, Any] = {
            "median_ms": measured.median_ms,
            "min_ms": measured.min_ms,
            "cpu_median_ms": measured.cpu_median_ms,
            "runs_ms": [value * 1000 for value in measured.runs],
        }
        produced = outputs.get(name) or []
        if name == "seed_x3":
            produced = [outputs[f"seed_{size}"][0] for size in THREE]
        if produced:
            entry["out_bytes"] = [len(body) for body in produced]
            entry["psnr_db"] = [quality.psnr(body, reference) for body in produced]
        result["cases"][name] = entry
    for label, sizes in (("256", (ONE,)), ("1024", (LARGE,)), ("x3", THREE)):
        chosen = cases.auto_engine(data, sizes) if has_vips else "pillow"
        result["engine"][label] = chosen
        if f"{chosen}_{label}" in result["cases"]:
            result["cases"][f"polythumb_{label}"] = {**result["cases"][f"{chosen}_{label}"], "engine": chosen}
    if options.rss and (options.suite == "full" or photo.name in QUICK_RSS):
        for name in RSS_CASES[options.suite]:
            if name in result["cases"]:
                log(f"{photo.name}: peak RSS of {name}")
                result["cases"][name]["peak_rss_mb"] = memory.peak_rss_mb(name, path, kind=photo.kind)
        for label in ("256", "x3"):
            source = result["cases"].get(f"{result['engine'][label]}_{label}", {})
            if "peak_rss_mb" in source:
                result["cases"][f"polythumb_{label}"]["peak_rss_mb"] = source["peak_rss_mb"]
        if sharp:
            warm = photos.cached(photos.Photo(f"warm-up-{photo.kind}", photo.kind, 64, 48), options.cache)
            for name in SHARP_RSS:
                if name in result["cases"]:
                    log(f"{photo.name}: peak RSS of {name} (fresh Node process)")
                    mode, peer_sizes = SHARP_CASES[name]
                    result["cases"][name]["peak_rss_mb"] = peers.peak_rss_mb(
                        path, warm, mode=mode, sizes=peer_sizes, quality=QUALITY
                    )
    return result
