"""MkDocs hooks: the pages generated from the code, so the documentation cannot drift from it.

* ``configuration.md``: ``<!-- polythumb:settings -->`` becomes the reference of every setting, written from
  the declarations (:data:`core.vocabulary.GROUPS` and each provider's ``function_settings`` and
  ``operator_settings``): name, default, accepted values, meaning, and who reads it.
* ``deploy/index.md``: ``<!-- polythumb:providers -->`` becomes the table of the providers this tree has.
* ``index.md`` is the repository's README, and ``deploy/<provider>.md`` each provider's README, with their
  links rewritten for the site (a link to a source file becomes its path, in code).
* ``event.schema.json`` is the completion event's schema, as the package ships it.

Nothing generated is committed. The functions that write Markdown import no MkDocs, so the tests call them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from core import registry
from core.settings import Setting
from core.vocabulary import GROUPS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SETTINGS_MARKER = "<!-- polythumb:settings -->"
PROVIDERS_MARKER = "<!-- polythumb:providers -->"
#: The nav section the provider pages are listed under.
DEPLOY_SECTION = "Deploy"
SCHEMA = ROOT / "core" / "completion" / "event.schema.json"

_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


# -- the configuration reference -----------------------------------------------------------------------------


def settings_reference(specs: Iterable[registry.ProviderSpec] | None = None) -> str:
    """The Markdown of every setting: the shared vocabulary by topic, then each provider's own."""
    specs = list(registry.providers().values() if specs is None else specs)
    lines: list[str] = []
    for title, settings in GROUPS:
        lines += [f"## {title}", ""]
        for setting in settings:
            lines += _setting(setting, reader="every provider's function and the `polythumb` commands")
    lines += [
        "## Provider settings",
        "",
        "Each provider adds a few settings of its own. Its function accepts the ones it reads, and refuses any "
        "other provider's; the `polythumb` commands of a cloud target (`--target <provider>`) accept both kinds.",
        "",
    ]
    if not specs:
        lines += ["This installation has no provider.", ""]
    for spec in specs:
        lines += [f"### {spec.title}", ""]
        extras = []
        if spec.notifiers:
            schemes = ", ".join(f"`{scheme}:`" for scheme in sorted(spec.notifiers))
            extras.append(f"`THUMBS_NOTIFY` schemes: {schemes}.")
        if spec.url_signer:
            extras.append("`THUMBS_URL_MODE=signed` is available.")
        if not spec.settings:
            extras.append("No setting of its own.")
        lines += [" ".join(extras), ""]
        for setting in spec.function_settings:
            lines += _setting(setting, reader=f"its function, and the `polythumb` commands with `--target {spec.name}`")
        for setting in spec.operator_settings:
            lines += _setting(setting, reader=f"the `polythumb` commands with `--target {spec.name}` only")
    return "\n".join(lines)


def _setting(setting: Setting, *, reader: str) -> list[str]:
    aliases = [f"`{alias}`" for alias in setting.aliases] + [f"`{alias}` (deprecated)" for alias in setting.deprecated]
    facts = [
        f"- **Default:** {setting.shown_default}",
        f"- **Accepted:** {_escape(setting.accepted)}",
        f"- **Read by:** {reader}",
    ]
    if aliases:
        facts.append(f"- **Also read as:** {', '.join(aliases)}, when `{setting.name}` is not set")
    return [f"#### `{setting.name}`", "", setting.meaning, "", *facts, ""]


def _escape(text: str) -> str:
    """Plain text for Markdown: ``|`` and ``*`` as themselves (the accepted values are written for error messages)."""
    return text if "`" in text else text.replace("*", r"\*").replace("_", r"\_")


# -- the deploy index ----------------------------------------------------------------------------------------


def providers_table(specs: Iterable[registry.ProviderSpec] | None = None) -> str:
    """One row per provider: its page, its entrypoints and its extra."""
    specs = list(registry.providers().values() if specs is None else specs)
    if not specs:
        return "This installation has no provider."
    rows = ["| provider | page | entrypoints | install |", "|---|---|---|---|"]
    for spec in specs:
        page = f"[{spec.title}]({spec.name}.md)" if readme(spec) is not None else spec.title
        entrypoints = ", ".join(f"`{path}`" for path in spec.entrypoints.values())
        rows.append(f"| `{spec.name}` | {page} | {entrypoints} | `{spec.install_hint}` |")
    return "\n".join(rows)


def readme(spec: registry.ProviderSpec) -> Path | None:
    """The provider's README, if it has one."""
    path = spec.folder / "README.md"
    return path if path.is_file() else None


# -- pages made from the repository's READMEs -----------------------------------------------------------------


def generated_pages(specs: Iterable[registry.ProviderSpec] | None = None) -> dict[Path, str]:
    """Repository file -> the site page it becomes (the README, each provider's README, the event schema)."""
    specs = list(registry.providers().values() if specs is None else specs)
    pages = {(ROOT / "README.md").resolve(): "index.md", SCHEMA.resolve(): "event.schema.json"}
    for spec in specs:
        path = readme(spec)
        if path is not None:
            pages[path.resolve()] = f"deploy/{spec.name}.md"
    return pages


def site_markdown(text: str, *, origin: Path, page: str, pages: Mapping[Path, str]) -> str:
    """``text`` (a README at ``origin``) as the site page ``page``: every relative link made right for the site.

    A link to a file that is a page of the site (the docs, a README, the schema) points at that page; a link to
    any other file of the repository becomes its path in code, since the site does not carry source files.
    Code blocks are left as written.
    """
    parts = _FENCE.split(text)
    # split() with one group gives: text, fence, text, fence, ...; inside a fence is every other text part.
    out: list[str] = []
    inside = False
    for index, part in enumerate(parts):
        if index % 2 == 1:  # a fence marker
            out.append(part)
            inside = not inside
            continue
        out.append(part if inside else _LINK.sub(lambda m: _rewrite(m, origin, page, pages), part))
    return "".join(out)


def _rewrite(match: re.Match[str], source: Path, page: str, pages: Mapping[Path, str]) -> str:
    bang, label, target = match.groups()
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
        return match.group(0)  # a URL, or an anchor of this page
    path, _, anchor = target.partition("#")
    resolved = (source.parent / path).resolve()
    site_page = pages.get(resolved) or _docs_page(resolved)
    if site_page is not None:
        relative = os.path.relpath(site_page, PurePosixPath(page).parent.as_posix() or ".")
        return f"{bang}[{label}]({PurePosixPath(relative).as_posix()}{'#' + anchor if anchor else ''})"
    shown = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else path
    return f"`{shown}`" if label.strip("`") in (path, shown, "") else f"{label} (`{shown}`)"


def _docs_page(path: Path) -> str | None:
    """``path``'s page if it is a file of the docs folder."""
    return path.relative_to(DOCS).as_posix() if path.is_relative_to(DOCS) and path.is_file() else None


# -- MkDocs events ---------------------------------------------------------------------------------------------


@cache
def _specs() -> tuple[registry.ProviderSpec, ...]:
    return tuple(registry.providers().values())


def on_config(config: Any) -> Any:
    """List each provider's page under the Deploy section of the nav."""
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and DEPLOY_SECTION in entry:
            entry[DEPLOY_SECTION] += [{spec.title: f"deploy/{spec.name}.md"} for spec in _specs() if readme(spec)]
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the pages made from the READMEs, and the event schema."""
    from mkdocs.structure.files import File

    pages = generated_pages(_specs())
    for source, page in pages.items():
        if page.endswith(".md"):
            text = site_markdown(source.read_text(encoding="utf-8"), origin=source, page=page, pages=pages)
            files.append(File.generated(config, page, content=text))
        else:
            files.append(File.generated(config, page, abs_src_path=str(source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the markers with what the code declares."""
    return fill_markers(markdown, _specs())


def fill_markers(markdown: str, specs: Iterable[registry.ProviderSpec]) -> str:
    """``markdown`` with the settings reference and the providers table in place of their markers."""
    specs = list(specs)
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_reference(specs))
    if PROVIDERS_MARKER in markdown:
        markdown = markdown.replace(PROVIDERS_MARKER, providers_table(specs))
    return markdown
