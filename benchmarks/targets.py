"""The targets of issues 7, 14 and 25, checked against a run's results.

Each target names the figures it compares. "One size" is the default box
(256); the three sizes are 128, 512 and 1024, compared with one render of the
largest of them (1024: the same decode, so the ratio measures what the two
extra sizes cost) and with the seed's code run once per size. Times are wall
medians; each detail also gives the ratio of CPU medians, which background
load on a shared machine barely moves.
"""

from __future__ import annotations

from typing import Any

Results = dict[str, Any]


def _photo(results: Results, name: str) -> Results | None:
    return next((photo for photo in results["photos"] if photo["name"] == name), None)


def _ms(photo: Results, case: str, field: str = "median_ms") -> float:
    return float(photo["cases"][case][field])


def _target(text: str, value: float | None, limit: float, *, at_most: bool, unit: str, detail: str) -> dict[str, Any]:
    met = None if value is None else (value <= limit if at_most else value >= limit)
    return {"target": text, "value": value, "limit": limit, "at_most": at_most, "unit": unit, "met": met,
            "detail": detail}  # fmt: skip


def _ratio(photo: Results, text: str, top: str, bottom: str, limit: float, *, at_most: bool) -> dict[str, Any]:
    """A time-ratio target: ``top`` / ``bottom`` of ``photo``'s cases, with the CPU ratio in the detail."""
    cpu = _ms(photo, top, "cpu_median_ms") / _ms(photo, bottom, "cpu_median_ms")
    detail = f"{top} {_ms(photo, top):.0f} ms / {bottom} {_ms(photo, bottom):.0f} ms; CPU ratio {cpu:.2f}x"
    value = _ms(photo, top) / _ms(photo, bottom)
    return _target(text, value, limit, at_most=at_most, unit="x", detail=detail)


def evaluate(results: Results) -> list[dict[str, Any]]:
    """Every target with its measured value and whether it is met (None: not measured in this run)."""
    found: list[dict[str, Any]] = []
    jpeg = _photo(results, "jpeg-12mp") or _photo(results, "jpeg-tiny")
    if jpeg:
        found += [
            _ratio(jpeg, "3 sizes <= 1.3x one render of the largest (12 MP JPEG)", "polythumb_x3",
                   "polythumb_1024", 1.3, at_most=True),
            _ratio(jpeg, "3 sizes >= 2.5x faster than the seed run 3 times (12 MP JPEG)", "seed_x3",
                   "polythumb_x3", 2.5, at_most=False),
            _ratio(jpeg, "one size within 1.15x of the decode floor (12 MP JPEG)", "polythumb_256", "floor_256",
                   1.15, at_most=True),
        ]  # fmt: skip
    with_seed = [photo for photo in results["photos"] if "seed_256" in photo["cases"]]  # not HEIC: the seed can't
    worst = max(with_seed, key=lambda photo: _ms(photo, "polythumb_256") / _ms(photo, "seed_256"))
    slowest = _ratio(worst, "one size no slower than the seed on any input", "polythumb_256", "seed_256", 1.0,
                     at_most=True)  # fmt: skip
    slowest["detail"] = f"worst input {worst['name']}: {slowest['detail']}"
    found.append(slowest)
    if results["meta"]["libvips"]:
        found += _fast_engine_targets(results)
    for entry in results.get("imports", []):
        foreign = ", ".join(entry["foreign_sdk_modules"])
        found.append(
            _target(f"{entry['provider']} entrypoint import <= floor + 50 ms, no other provider's SDK",
                    entry["over_floor_ms"] if not foreign else float("inf"), 50.0, at_most=True, unit="ms",
                    detail=f"entry {entry['entry_ms']:.0f} ms, floor {entry['floor_ms']:.0f} ms; "
                    f"other SDKs: {foreign or 'none'}")
        )  # fmt: skip
    found += peer_targets(results)
    found += sharp_targets(results)
    if "throughput" in results:
        speed = results["throughput"]
        cpu = speed["cpu_ms_per_image"]
        found.append(
            _target("polythumb run: 2 workers >= 1.7x the images/s of 1", speed["speedup_2_vs_1"], 1.7,
                    at_most=False, unit="x",
                    detail=f"{speed['images_per_s']['1']:.2f} vs {speed['images_per_s']['2']:.2f} images/s; CPU per "
                    f"image {cpu['1']:.0f} vs {cpu['2']:.0f} ms; cores used {speed['cores_used']['2']:.2f} of 2")
        )  # fmt: skip
    return found


def _fast_engine_targets(results: Results) -> list[dict[str, Any]]:
    found = []
    for name in ("png-12mp", "webp-12mp", "png-tiny", "webp-tiny"):
        photo = _photo(results, name)
        if photo:
            found.append(_ratio(photo, f"fast engine: {name} >= 1.5x faster than the seed", "seed_256",
                                "polythumb_256", 1.5, at_most=False))  # fmt: skip
    for name, limit in (("webp-12mp", 40.0), ("jpeg-50mp", 30.0), ("webp-tiny", 40.0)):
        photo = _photo(results, name)
        if photo is None:
            continue
        peaks = {label: photo["cases"].get(f"polythumb_{label}", {}).get("peak_rss_mb") for label in ("256", "x3")}
        measured = [peak for peak in peaks.values() if peak is not None]
        found.append(
            _target(f"fast engine: peak RSS of {name} <= +{limit:.0f} MB", max(measured) if measured else None,
                    limit, at_most=True, unit="MB",
                    detail=", ".join(f"{label}: {peak:+.1f} MB ({photo['engine'][label]})"
                                     for label, peak in peaks.items() if peak is not None))
        )  # fmt: skip
    return found


# -- issue 14: the deployed package against sharp ----------------------------------------------------------

#: The package whose process stands for "polythumb as deployed" (all three carry the same engines).
DEPLOYED_REFERENCE = "aws"


def _deployed_case(results: Results, photo: Results, label: str) -> tuple[str, str]:
    """The case standing for polythumb as deployed at ``label``, and how it was measured."""
    for entry in results.get("deployed", []):
        name = f"{entry['provider']}pkg_{label}"
        if entry["provider"] == DEPLOYED_REFERENCE and name in photo["cases"]:
            return name, f"the {DEPLOYED_REFERENCE} x86_64 package"
    return f"polythumb_{label}", "this venv (no package measured)"


def _cpu_ratio(photo: Results, text: str, top: str, bottom: str, limit: float, *, how: str) -> dict[str, Any]:
    """A speed-ratio target of issue 14, judged on CPU medians, with the wall ratio in the detail.

    Both sides run one thread (libvips and sharp at concurrency 1, Pillow single-threaded), so a case's
    CPU time is the wall time it would take on an idle vCPU; on this project's shared machine the wall
    medians of one case swing by a third from run to run, the CPU medians by a few percent.
    """
    wall = _ms(photo, top) / _ms(photo, bottom)
    top_cpu, bottom_cpu = _ms(photo, top, "cpu_median_ms"), _ms(photo, bottom, "cpu_median_ms")
    detail = f"CPU {top} {top_cpu:.0f} ms / {bottom} {bottom_cpu:.0f} ms; wall ratio {wall:.2f}x; polythumb in {how}"
    return {**_target(text, top_cpu / bottom_cpu, limit, at_most=False, unit="x", detail=detail), "issue": 14}


def _issue14(text: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {**_target(text, *args, **kwargs), "issue": 14}


def peer_targets(results: Results) -> list[dict[str, Any]]:
    """Issue 14's targets: the deployed package vs sharp, memory vs sharp, the WebP seed ratio, cold starts."""
    found: list[dict[str, Any]] = []
    has_sharp = "sharp" in results["meta"] and "skipped" not in results["meta"]["sharp"]
    for name in ("jpeg-12mp", "png-12mp", "webp-12mp", "heic-12mp", "jpeg-tiny", "png-tiny", "webp-tiny", "heic-tiny"):
        photo = _photo(results, name)
        if photo is None or not has_sharp:
            continue
        for label, peer, limit, what in (
            ("x3", "sharp_x3", 1.5, "3 sizes >= 1.5x faster than sharp the Firebase way"),
            ("x3", "sharpbest_x3", 1.0, "3 sizes >= 1.0x sharp's best (one decode, clone per size)"),
            ("256", "sharp_256", 1.0, "1 size no slower than sharp"),
        ):
            if label == "x3" and name.startswith("heic"):
                continue  # the issue's 3-size targets name JPEG, PNG and WebP
            ours, how = _deployed_case(results, photo, label)
            text = f"deployed, {what} ({name})"
            if peer in photo.get("failed", {}):
                found.append(_issue14(text, None, limit, at_most=False, unit="x",
                                      detail=f"sharp cannot read it: {photo['failed'][peer]}; polythumb renders it "
                                      f"({_ms(photo, ours):.0f} ms, {how})"))  # fmt: skip
                continue
            if ours not in photo["cases"] or peer not in photo["cases"]:
                continue
            found.append(_cpu_ratio(photo, text, peer, ours, limit, how=how))
    for name in ("png-12mp", "webp-12mp", "webp-tiny"):
        photo = _photo(results, name)
        if photo is None:
            continue
        ours = photo["cases"].get("polythumb_x3", {}).get("peak_rss_mb")
        theirs = photo["cases"].get("sharp_x3", {}).get("peak_rss_mb")
        best = photo["cases"].get("sharpbest_x3", {}).get("peak_rss_mb")
        if ours is None or theirs is None:
            continue
        found.append(_issue14(f"peak RSS, 3 sizes, {name} <= sharp's + 10 MB", ours - theirs, 10.0, at_most=True,
                              unit="MB", detail=f"polythumb {ours:+.1f} MB ({photo['engine']['x3']}), sharp the "
                              f"Firebase way {theirs:+.1f} MB" + (f", sharp's best {best:+.1f} MB" if best else "")
                              + "; each over its own warm, idle process"))  # fmt: skip
    photo = _photo(results, "jpeg-50mp")
    if photo and photo["cases"].get("polythumb_x3", {}).get("peak_rss_mb") is not None:
        peak = photo["cases"]["polythumb_x3"]["peak_rss_mb"]
        found.append(_issue14("peak RSS, 50 MP JPEG, 3 sizes <= +40 MB over the interpreter", peak, 40.0,
                              at_most=True, unit="MB", detail=f"{peak:+.1f} MB ({photo['engine']['x3']})"))  # fmt: skip
    photo = _photo(results, "webp-12mp")
    if photo and "seed_256" in photo["cases"]:
        ours, how = _deployed_case(results, photo, "256")
        found.append(_cpu_ratio(photo, "12 MP WebP, 1 size >= 1.5x faster than the seed", "seed_256", ours, 1.5,
                                how=how))  # fmt: skip
    for entry in results.get("deployed", []):
        if "skipped" in entry:
            continue
        lazy = not entry["loaded_at_import"]["pyvips"] and not entry["loaded_at_import"]["pillow_heif"]
        found.append(_issue14(
            f"{entry['provider']} package cold start: import <= Pillow + SDK + one client + 50 ms; pyvips lazy",
            entry["over_floor_ms"] if lazy else float("inf"), 50.0, at_most=True, unit="ms",
            detail=f"entry {entry['entry_ms']:.0f} ms, floor {entry['floor_ms']:.0f} ms (both from the package, "
            f"python -S); pyvips at import: {entry['loaded_at_import']['pyvips']}; first libvips render pays "
            f"+{entry['vips_first_use_ms']:.0f} ms, first HEIC +{entry['heif_first_use_ms']:.0f} ms",
        ))  # fmt: skip
    return found


# -- issue 25: ahead of sharp at its best, as deployed ------------------------------------------------------

#: Inputs whose three sizes must beat sharp's best by this factor (CPU medians, polythumb as deployed).
BEST_X3_LIMITS = {"jpeg-12mp": 1.1, "png-12mp": 1.1, "webp-12mp": 1.1, "jpeg-24mp": 1.0, "jpeg-50mp": 1.0}
#: Inputs whose one size (the 256 box) must be no slower than sharp's.
ONE_SIZE_INPUTS = ("jpeg-12mp", "png-12mp", "webp-12mp", "real-rocket-jpeg", "real-retina-jpeg",
                   "real-astronaut-png", "real-coffee-webp")  # fmt: skip
#: Peak RSS over sharp's (three sizes, each over its own warm idle process), every input sharp reads.
RSS_MARGIN_MB = 10.0


def _issue25(text: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {**_target(text, *args, **kwargs), "issue": 25}


def sharp_targets(results: Results) -> list[dict[str, Any]]:
    """Issue 25's targets: three sizes against sharp's best and the Firebase way, one size, memory, formats."""
    found: list[dict[str, Any]] = []
    has_sharp = "sharp" in results["meta"] and "skipped" not in results["meta"]["sharp"]
    for photo in results["photos"] if has_sharp else []:
        name = photo["name"]
        checks = []
        if name in BEST_X3_LIMITS:
            checks.append(("x3", "sharpbest_x3", BEST_X3_LIMITS[name], "3 sizes vs sharp's best"))
            checks.append(("x3", "sharp_x3", 1.5, "3 sizes vs sharp the Firebase way"))
        if name in ONE_SIZE_INPUTS:
            checks.append(("256", "sharp_256", 1.0, "1 size vs sharp"))
        for label, peer, limit, what in checks:
            ours, how = _deployed_case(results, photo, label)
            if ours not in photo["cases"] or peer not in photo["cases"]:
                continue
            target = _cpu_ratio(photo, f"deployed, {what} >= {limit:g}x ({name})", peer, ours, limit, how=how)
            found.append({**target, "issue": 25})
        ours_rss = photo["cases"].get("polythumb_x3", {}).get("peak_rss_mb")
        theirs = [photo["cases"].get(case, {}).get("peak_rss_mb") for case in ("sharp_x3", "sharpbest_x3")]
        known = [value for value in theirs if value is not None]
        if ours_rss is not None and known:
            found.append(_issue25(
                f"peak RSS, 3 sizes <= sharp's + {RSS_MARGIN_MB:g} MB ({name})", ours_rss - min(known),
                RSS_MARGIN_MB, at_most=True, unit="MB",
                detail=f"polythumb {ours_rss:+.1f} MB ({photo['engine']['x3']}); sharp the Firebase way "
                f"{theirs[0] if theirs[0] is None else f'{theirs[0]:+.1f}'} MB, sharp's best "
                f"{theirs[1] if theirs[1] is None else f'{theirs[1]:+.1f}'} MB (the lower is the bar)",
            ))  # fmt: skip
    for photo in results["photos"]:
        for label in ("x3", "256"):
            package, worker = f"{DEPLOYED_REFERENCE}pkg_{label}", f"venvworker_{label}"
            if photo["name"] != "jpeg-12mp" or package not in photo["cases"] or worker not in photo["cases"]:
                continue
            ratio = _ms(photo, package, "cpu_median_ms") / _ms(photo, worker, "cpu_median_ms")
            found.append(_issue25(
                f"the package within 1.05x of this venv run the same way ({photo['name']}, {label})", ratio, 1.05,
                at_most=True, unit="x",
                detail=f"CPU {_ms(photo, package, 'cpu_median_ms'):.0f} vs {_ms(photo, worker, 'cpu_median_ms'):.0f} "
                f"ms; wall {_ms(photo, package):.0f} vs {_ms(photo, worker):.0f} ms; in the benchmark's own process "
                f"{_ms(photo, f'polythumb_{label}', 'cpu_median_ms'):.0f} ms CPU",
            ))  # fmt: skip
    several = results.get("formats")
    if several:
        cases = several["cases"]
        base = cases[several["baseline"]]
        for case, what in (("three_formats", "default efforts"), ("three_formats_fastest", "fastest efforts")):
            if case not in cases:
                continue
            measured = cases[case]
            sizes = measured.get("out_bytes_by_format", {})
            found.append(_issue25(
                f"AVIF+WebP+JPEG <= {several['target_ratio']:g}x JPEG alone, CPU ({what})",
                measured["cpu_median_ms"] / base["cpu_median_ms"], several["target_ratio"], at_most=True, unit="x",
                detail=f"CPU {measured['cpu_median_ms']:.0f} ms vs {base['cpu_median_ms']:.0f} ms (wall "
                f"{measured['median_ms']:.0f} vs {base['median_ms']:.0f}); out "
                + ", ".join(f"{fmt} {size / 1024:.0f} KB" for fmt, size in sizes.items())
                + f" ({several['input']}, sizes {'/'.join(map(str, several['sizes']))})",
            ))  # fmt: skip
    return found
