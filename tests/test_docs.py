"""The README is a front door and the documentation site is generated from the code where it can drift.

The site itself is built with ``mkdocs build --strict`` by ``nox -s docs`` (in the default sessions, so in CI),
which checks every link and anchor. These tests check what the build cannot: that the configuration
reference holds every setting the code declares, with what it means, and that the README stays short and
its commands stay true.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from core import registry
from core.settings import Setting, Text
from core.vocabulary import VOCABULARY

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    """The MkDocs hook module, loaded from its file as MkDocs loads it (it imports no MkDocs itself)."""
    spec = importlib.util.spec_from_file_location("polythumb_docs", DOCS / "hooks" / "polythumb_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def every_setting() -> list[tuple[str, Setting]]:
    own = [(spec.title, s) for spec in registry.providers().values() for s in spec.settings]
    return [("shared", setting) for setting in VOCABULARY] + own


def test_the_configuration_page_is_generated_with_every_setting_and_its_meaning(hooks: ModuleType) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert page.count(hooks.SETTINGS_MARKER) == 1
    assert not re.search(r"^\| `THUMBS_", page, re.MULTILINE), "a hand-written settings table would drift"
    built = hooks.fill_markers(page, registry.providers().values())
    assert hooks.SETTINGS_MARKER not in built
    sections = re.split(r"^#### ", built, flags=re.MULTILINE)[1:]
    documented = {section.split("\n", 1)[0].strip("`"): section for section in sections}
    for where, setting in every_setting():
        section = documented.get(setting.name)
        assert section is not None, f"{setting.name} ({where}) is not in the configuration reference"
        assert setting.meaning in section, setting.name
        assert setting.shown_default in section, setting.name
        assert setting.accepted.replace("_", r"\_") in section or setting.accepted in section, setting.name
        for alias in (*setting.aliases, *setting.deprecated):
            assert f"`{alias}`" in section, (setting.name, alias)
    assert len(documented) == len(every_setting())


def test_a_provider_setting_says_who_reads_it(hooks: ModuleType) -> None:
    """A made-up provider: its function's setting and its commands' setting are shown apart."""
    spec = registry.ProviderSpec(
        name="example", title="Example Cloud", extra="example", open_bucket="x:y",
        function_settings=(Setting("THUMBS_EXAMPLE_REGION", Text("a region"), meaning="Where it runs."),),
        operator_settings=(Setting("THUMBS_EXAMPLE_QUEUE", Text("a queue"), meaning="Where work goes."),),
        notifiers={"examplebus": "x:Notifier"},
    )  # fmt: skip
    reference = hooks.settings_reference([spec])
    region = reference.split("#### `THUMBS_EXAMPLE_REGION`", 1)[1].split("####", 1)[0]
    queue = reference.split("#### `THUMBS_EXAMPLE_QUEUE`", 1)[1]
    assert "its function, and the `polythumb` commands with `--target example`" in region
    assert "the `polythumb` commands with `--target example` only" in queue
    assert "### Example Cloud" in reference and "`examplebus:`" in reference
    assert "signed" not in reference.split("### Example Cloud", 1)[1].split("####", 1)[0]  # it has no signer


def test_the_deploy_page_lists_the_providers_of_this_tree(hooks: ModuleType) -> None:
    page = (DOCS / "deploy" / "index.md").read_text(encoding="utf-8")
    assert page.count(hooks.PROVIDERS_MARKER) == 1
    table = hooks.fill_markers(page, registry.providers().values())
    for spec in registry.providers().values():
        assert f"[{spec.title}]({spec.name}.md)" in table
        for path in spec.entrypoints.values():
            assert f"`{path}`" in table
    pages = hooks.generated_pages(registry.providers().values())
    assert {page for page in pages.values() if page.startswith("deploy/")} == {
        f"deploy/{name}.md" for name in registry.names()
    }


def test_readme_links_are_rewritten_for_the_site(hooks: ModuleType) -> None:
    """A page of the site stays a link (checked by the strict build); a source file becomes its path in code."""
    origin = ROOT / "providers" / "README.md"  # links relative to a README one level under the root
    text = (
        "See [the completion page](../docs/completion.md#manifests), [notify.py](../core/completion/notify.py), "
        "[the schema](../core/completion/event.schema.json), [home](../README.md#how-the-pieces-fit), "
        "[an anchor](#here) and [a site](https://example.com/x.md).\n"
        "```\n[not a link](../docs/completion.md)\n```\n"
    )
    pages = {(ROOT / "README.md").resolve(): "index.md", hooks.SCHEMA.resolve(): "event.schema.json"}
    rewritten = hooks.site_markdown(text, origin=origin, page="deploy/example.md", pages=pages)
    assert "[the completion page](../completion.md#manifests)" in rewritten
    assert "`core/completion/notify.py`" in rewritten and "](../core" not in rewritten
    assert "[the schema](../event.schema.json)" in rewritten
    assert "[home](../index.md#how-the-pieces-fit)" in rewritten
    assert "[an anchor](#here)" in rewritten and "[a site](https://example.com/x.md)" in rewritten
    assert "[not a link](../docs/completion.md)" in rewritten  # code is left as written


# -- the README: a front door --------------------------------------------------------------------------------


def test_the_readme_is_short_and_its_two_commands_are_the_real_ones() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "```bash\npip install . && polythumb run tests/data/corpus --out thumbs\n```" in readme
    assert "```bash\npython3 -m pip install nox && python3 -m nox\n```" in readme
    assert "python3 -m pip install --quiet nox && python3 -m nox" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_links_only_to_files_that_exist() -> None:
    readme = README.read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", readme) if "://" not in t]
    assert targets
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert missing == []


def test_the_docs_build_strictly_in_ci() -> None:
    """``nox`` with no arguments (what .ci/run runs) builds the site with --strict, links and anchors checked."""
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    [sessions] = re.findall(r"nox\.options\.sessions = \[([^\]]*)\]", noxfile)
    assert '"docs"' in sessions
    assert '"mkdocs", "build", "--strict"' in noxfile
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    validation = config.split("\nvalidation:\n", 1)[1].split("\n\n", 1)[0]
    for check in ("omitted_files", "absolute_links", "unrecognized_links", "anchors", "not_found"):
        assert re.search(rf"^\s+{check}: warn$", validation, re.MULTILINE), check  # with --strict, a failure
    assert "hooks:\n  - docs/hooks/polythumb_docs.py" in config


USER_DOCS = sorted([README, *DOCS.rglob("*.md")])


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_hold_no_word_of_internal_process(path: Path) -> None:
    """No issue numbers, lab-notebook dates and loads, or names only the project's history knows."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(
        r"\bissues? \d+|\bthe seed\b|not explained yet|load average|this project's (?:shared )?\d-core|"
        r"earlier run|\bnow carr(?:y|ies)\b",
        re.IGNORECASE,
    )
    assert pattern.findall(text) == []
