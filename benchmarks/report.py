"""Tables of a run's results: aligned text for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Any

Results = dict[str, Any]
Table = tuple[str, list[str], list[list[str]]]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(top: float | None, bottom: float | None) -> str:
    return "-" if not top or not bottom else f"{top / bottom:.2f}x"


def _case(photo: Results, name: str, field: str = "median_ms") -> Any:
    return photo["cases"].get(name, {}).get(field)


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"


def _psnr(photo: Results, name: str) -> str:
    values = _case(photo, name, "psnr_db")
    return "-" if not values else f"{min(values):.1f}"


def tables(results: Results) -> list[Table]:
    """The report's tables: (title, headers, rows)."""
    found = [_time_table(results), _engine_table(results), _memory_table(results)]
    if any(name.startswith(("sharp", "awspkg")) for photo in results["photos"] for name in photo["cases"]):
        found.append(versus_sharp_table(results))
        if any(name.startswith("venvworker") for photo in results["photos"] for name in photo["cases"]):
            found.append(package_gap_table(results))
        found.append(_peer_table(results))
        found.append(_peer_memory_table(results))
    if results.get("imports"):
        found.append(_imports_table(results))
    if [entry for entry in results.get("deployed", []) if "skipped" not in entry]:
        found.append(_deployed_table(results))
    if "throughput" in results:
        speed = results["throughput"]
        rows = [[str(workers), f"{rate:.2f}", f"{rate / speed['images_per_s']['1']:.2f}x",
                 f"{speed['cpu_ms_per_image'][workers]:.0f}", f"{speed['cores_used'][workers]:.2f}"]
                for workers, rate in speed["images_per_s"].items()]  # fmt: skip
        title = (f"polythumb run, {speed['images']} photos, sizes {speed['sizes']} (medians; "
                 f"load average {speed['load_average']:.1f} on {speed['cpus']} CPUs)")  # fmt: skip
        found.append((title, ["workers", "images/s", "vs 1 worker", "CPU ms/image", "cores used"], rows))
    if "formats" in results:
        found.append(formats_table(results["formats"]))
    for issue in (7, 14, 25):
        rows = []
        for target in results.get("targets", []):
            if target.get("issue", 7) != issue:
                continue
            value = target["value"]
            shown = "-" if value is None else f"{value:.2f}{target['unit']}"
            limit = f"{'<=' if target['at_most'] else '>='} {target['limit']:g}{target['unit']}"
            met = {True: "yes", False: "NO", None: "n/a"}[target["met"]]
            rows.append([target["target"], shown, limit, met, target["detail"]])
        if rows:
            found.append((f"Targets (issue {issue})", ["target", "measured", "limit", "met", "detail"], rows))
    return found


def formats_table(result: dict[str, Any]) -> Table:
    """The table of :func:`benchmarks.formats.measure`'s result: every case, its output bytes, and its CPU
    against the JPEG-only baseline (the target judges the several-format cases on it)."""
    cases = result["cases"]
    base = cases[result["baseline"]]
    rows = []
    for case in cases.values():
        several = len(case["formats"]) > 1
        efforts = case.get("efforts") or [None] * len(case["formats"])
        described = ", ".join(fmt if effort is None else f"{fmt} (effort {effort})"
                              for fmt, effort in zip(case["formats"], efforts, strict=True))  # fmt: skip
        ratio = case["cpu_median_ms"] / base["cpu_median_ms"]
        rows.append([
            described,
            f"{case['median_ms']:.0f}",
            f"{case['cpu_median_ms']:.0f}",
            f"{sum(case['out_bytes']) / 1024:.0f}",
            f"{ratio:.2f}x",
            f"<= {result['target_ratio']:g}x" if several else "",
            ("yes" if ratio <= result["target_ratio"] else "NO") if several else "",
        ])  # fmt: skip
    title = (
        f"Several formats from one decode: {result['input']}, sizes {'/'.join(map(str, result['sizes']))} "
        f"(medians of {cases['three_formats']['rounds']} interleaved rounds; effort: the encoder's default "
        "unless named)"
    )
    headers = ["formats", "wall ms", "CPU ms", "KB out (3 sizes)", "CPU vs JPEG alone", "target", "met"]
    return (title, headers, rows)


def versus_sharp_table(results: Results) -> Table:
    """Issue 25's table: polythumb as deployed against sharp, wall and CPU medians and peak RSS side by side."""
    from benchmarks.targets import _deployed_case

    rows = []
    for photo in results["photos"]:
        failed = photo.get("failed", {})
        row = [photo["name"]]
        for label, peers in (("x3", ("sharpbest_x3", "sharp_x3")), ("256", ("sharp_256",))):
            ours, _ = _deployed_case(results, photo, label)
            row += [_wall_cpu(photo, ours)]
            for peer in peers:
                if peer in failed:
                    row += ["cannot read", "-"]
                    continue
                row += [_wall_cpu(photo, peer), _ratio_pair(photo, peer, ours)]
        rss = [_case(photo, case, "peak_rss_mb") for case in ("polythumb_x3", "sharpbest_x3", "sharp_x3")]
        row += [" / ".join(_mb(value) for value in rss)]
        rows.append(row)
    reference = next((entry["provider"] for entry in results.get("deployed", []) if "skipped" not in entry), None)
    measured = reference and any(f"{reference}pkg_x3" in photo["cases"] for photo in results["photos"])
    ours = f"{reference} pkg" if measured else "venv"
    headers = [
        "input", f"pt {ours} x3", "sharp best x3", "best/pt x3", "sharp FB x3", "FB/pt x3",
        f"pt {ours} 1", "sharp 1", "sharp/pt 1", "peak RSS MB x3: pt / best / FB",
    ]  # fmt: skip
    title = (f"polythumb as deployed ({ours}) vs sharp, one interleaved run: each cell wall / CPU median, ms; "
             "ratios wall / CPU (above 1: polythumb faster); x3 = 128+512+1024, 1 = the 256 box, JPEG q85")  # fmt: skip
    return (title, headers, rows)


def package_gap_table(results: Results) -> Table:
    """The package against this venv, in the benchmark's process and run exactly as a package is."""
    from benchmarks.targets import DEPLOYED_REFERENCE

    rows = []
    for photo in results["photos"]:
        for label in ("x3", "256"):
            package, worker, here = f"{DEPLOYED_REFERENCE}pkg_{label}", f"venvworker_{label}", f"polythumb_{label}"
            if package not in photo["cases"] or worker not in photo["cases"]:
                continue
            rows.append([photo["name"], label, _wall_cpu(photo, here), _wall_cpu(photo, worker),
                         _wall_cpu(photo, package), _ratio_pair(photo, package, worker),
                         _ratio_pair(photo, here, worker)])  # fmt: skip
    headers = ["input", "sizes", "venv, in the benchmark", "venv, run as a package", f"{DEPLOYED_REFERENCE} package",
               "package / venv as a package", "in the benchmark / as a package"]  # fmt: skip
    title = ("The package gap: this venv timed in the benchmark's own process, and run exactly as the package is "
             "(a worker under python -S timing itself), against the package; wall / CPU medians, ms (a ratio "
             "above 1: the right-hand one is faster)")  # fmt: skip
    return (title, headers, rows)


def _wall_cpu(photo: Results, name: str) -> str:
    wall, cpu = _case(photo, name), _case(photo, name, "cpu_median_ms")
    return "-" if wall is None else f"{_ms(wall)} / {_ms(cpu)}"


def _ratio_pair(photo: Results, top: str, bottom: str) -> str:
    wall = _ratio(_case(photo, top), _case(photo, bottom))
    cpu = _ratio(_case(photo, top, "cpu_median_ms"), _case(photo, bottom, "cpu_median_ms"))
    return f"{wall} / {cpu}"


def _peer_table(results: Results) -> Table:
    clouds = [entry["provider"] for entry in results.get("deployed", []) if "skipped" not in entry]
    rows = []
    for photo in results["photos"]:
        failed = photo.get("failed", {})
        sharp_one = "cannot read" if "sharp_256" in failed else _ms(_case(photo, "sharp_256"))
        row = [photo["name"], _ms(_case(photo, "polythumb_256"))]
        row += [_ms(_case(photo, f"{cloud}pkg_256")) for cloud in clouds]
        row += [sharp_one, _ratio(_case(photo, "sharp_256"), _case(photo, f"{clouds[0]}pkg_256" if clouds else
                                                                       "polythumb_256"))]  # fmt: skip
        row += [_ms(_case(photo, "polythumb_x3"))] + [_ms(_case(photo, f"{cloud}pkg_x3")) for cloud in clouds]
        deployed_x3 = _case(photo, f"{clouds[0]}pkg_x3" if clouds else "polythumb_x3")
        row += ["cannot read" if "sharp_x3" in failed else _ms(_case(photo, "sharp_x3")),
                _ms(_case(photo, "sharpbest_x3")), _ratio(_case(photo, "sharp_x3"), deployed_x3),
                _ratio(_case(photo, "sharpbest_x3"), deployed_x3)]  # fmt: skip
        rows.append(row)
    first = clouds[0] if clouds else "venv"
    headers = ["input", "pt 1 (venv)", *(f"{c} pkg 1" for c in clouds), "sharp 1", f"sharp/{first} 1",
               "pt x3 (venv)", *(f"{c} pkg x3" for c in clouds), "sharp FB x3", "sharp best x3",
               f"sharp FB/{first} x3", f"sharp best/{first} x3"]  # fmt: skip
    title = ("polythumb (venv and each cloud's x86_64 package as deployed) vs sharp, ms (medians, interleaved; "
             "sharp with concurrency(1), UV_THREADPOOL_SIZE=1; FB = Firebase way, one pipeline per size)")  # fmt: skip
    return (title, headers, rows)


def _peer_memory_table(results: Results) -> Table:
    rows = []
    for photo in results["photos"]:
        rows.append([
            photo["name"], photo.get("licence", "generated"),
            _mb(_case(photo, "polythumb_x3", "peak_rss_mb")), _mb(_case(photo, "sharp_x3", "peak_rss_mb")),
            _mb(_case(photo, "sharpbest_x3", "peak_rss_mb")),
            _psnr(photo, "polythumb_x3"), _psnr(photo, "sharp_x3"), _psnr(photo, "sharpbest_x3"),
            "; ".join(f"{name}: {error}" for name, error in photo.get("failed", {}).items())[:120] or "-",
        ])  # fmt: skip
    headers = ["input", "licence", "RSS pt x3", "RSS sharp FB x3", "RSS sharp best x3", "PSNR pt x3",
               "PSNR sharp FB x3", "PSNR sharp best x3", "failed"]  # fmt: skip
    return ("Peak RSS, MB over each warm idle process (fresh process); PSNR dB (min of 3 sizes) vs the same reference",
            headers, rows)  # fmt: skip


def _deployed_table(results: Results) -> Table:
    rows = []
    for entry in results["deployed"]:
        if "skipped" in entry:
            rows.append([entry["provider"], "-", "-", "-", "-", "-", "-", "-", entry["skipped"][:80]])
            continue
        rows.append([
            entry["provider"], f"{entry['zipped_mb']:.1f} / {entry['unzipped_mb']:.1f}", _ms(entry["entry_ms"]),
            _ms(entry["floor_ms"]), f"{entry['over_floor_ms']:+.0f}",
            "yes" if entry["loaded_at_import"]["pyvips"] else "no",
            f"+{entry['vips_first_use_ms']:.0f}" if entry["vips"] else "not in package",
            f"+{entry['heif_first_use_ms']:.0f}" if entry["heif"] else "not in package", entry["entrypoint"],
        ])  # fmt: skip
    headers = ["package", "MB zipped / unzipped", "import ms", "floor ms", "over floor", "pyvips at import",
               "first libvips render", "first HEIC", "entry module"]  # fmt: skip
    return ("Each cloud's x86_64 package as deployed: cold import from the package (python -S, medians), and what "
            "the first render that needs libvips / pillow-heif adds, ms", headers, rows)  # fmt: skip


def _time_table(results: Results) -> Table:
    rows = []
    for photo in results["photos"]:
        one, three = _case(photo, "polythumb_256"), _case(photo, "polythumb_x3")
        rows.append([
            photo["name"], f"{photo['megapixels']:g}", f"{photo['engine']['256']}/{photo['engine']['x3']}",
            _ms(_case(photo, "floor_256")), _ms(_case(photo, "seed_256")), _ms(one),
            _ratio(_case(photo, "seed_256"), one), _ratio(one, _case(photo, "floor_256")),
            _ms(_case(photo, "ref_256")), _ms(_case(photo, "seed_x3")), _ms(three),
            _ratio(_case(photo, "seed_x3"), three), _ms(_case(photo, "polythumb_1024")),
            _ratio(three, _case(photo, "polythumb_1024")), _ms(_case(photo, "full_decode")),
        ])  # fmt: skip
    headers = ["input", "MP", "engine 1/3", "floor", "seed", "polythumb", "seed/pt", "pt/floor", "libvips",
               "seed x3", "pt x3", "seed/pt x3", "pt 1024", "x3/1024", "full decode"]  # fmt: skip
    return ("Time, ms (medians): one size = 256 box, x3 = 128+512+1024, JPEG q85 out", headers, rows)


def _engine_table(results: Results) -> Table:
    rows = []
    for photo in results["photos"]:
        rows.append([photo["name"]] + [_ms(_case(photo, name)) for name in (
            "pillow_256", "vips_256", "pillow_1024", "vips_1024", "pillow_x3", "vips_x3", "ref_x3")])  # fmt: skip
    headers = ["input", "pillow 256", "vips 256", "pillow 1024", "vips 1024", "pillow x3", "vips x3", "libvips x3"]
    return ("Engines side by side, ms (medians)", headers, rows)


def _memory_table(results: Results) -> Table:
    rows = []
    for photo in results["photos"]:
        seed_bytes, own_bytes = _case(photo, "seed_256", "out_bytes"), _case(photo, "polythumb_256", "out_bytes")
        rows.append([
            photo["name"], f"{photo['bytes'] / 1e6:.1f}",
            *(_mb(_case(photo, name, "peak_rss_mb")) for name in (
                "seed_256", "pillow_256", "vips_256", "pillow_x3", "vips_x3")),
            f"{seed_bytes[0] / 1000:.1f}/{own_bytes[0] / 1000:.1f}" if seed_bytes and own_bytes else "-",
            _psnr(photo, "seed_256"), _psnr(photo, "polythumb_256"), _psnr(photo, "ref_256"),
            _psnr(photo, "seed_x3"), _psnr(photo, "polythumb_x3"),
        ])  # fmt: skip
    headers = ["input", "source MB", "RSS seed", "RSS pillow", "RSS vips", "RSS pillow x3", "RSS vips x3",
               "kB seed/pt", "PSNR seed", "PSNR pt", "PSNR libvips", "PSNR seed x3", "PSNR pt x3"]  # fmt: skip
    title = "Peak RSS, MB over an idle interpreter (fresh process); output kB (256); PSNR dB vs full-res LANCZOS"
    return (title, headers, rows)


def _imports_table(results: Results) -> Table:
    rows = []
    for entry in results["imports"]:
        heavy = ", ".join(f"{item['package']} {item['self_ms']:.0f}" for item in entry["heavy"][:5])
        rows.append([
            entry["provider"], entry["entrypoint"], ", ".join(entry["host_preloaded"]) or "-",
            _ms(entry["entry_ms"]), _ms(entry["floor_ms"]), f"{entry['over_floor_ms']:+.0f}",
            "yes" if entry["imports_pillow"] else "no", ", ".join(entry["foreign_sdk_modules"]) or "none", heavy,
        ])  # fmt: skip
    headers = ["provider", "entrypoint", "host preloaded", "import ms", "floor ms", "over floor", "Pillow",
               "other SDKs", "heaviest packages (self ms)"]  # fmt: skip
    return ("Entrypoint import in a fresh interpreter (medians); floor = Pillow + SDK + one client", headers, rows)


def as_text(table: Table) -> str:
    """An aligned plain-text table."""
    title, headers, rows = table
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def as_markdown(table: Table) -> str:
    """A GitHub Markdown table with its title in bold."""
    title, headers, rows = table
    lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
