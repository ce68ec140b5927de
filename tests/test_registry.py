"""Out-of-tree providers register through the ``polythumb.providers`` entry-point group.

Each test installs a small distribution into a temporary directory on ``sys.path`` (a ``.dist-info`` with
its ``entry_points.txt`` and a package), so the registry finds it through a real ``importlib.metadata``
lookup, exactly as it would find a ``pip install``-ed one.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import registry
from core.config import load_config
from core.errors import ConfigError
from core.runtime import FunctionRuntime
from core.storage import MemoryStorage

DESCRIPTOR = '''
from core.registry import ProviderSpec
from core.settings import Setting, Text

PROVIDER = ProviderSpec(
    name="{name}",
    title="Example Cloud",
    extra="",
    install="pip install polythumb-example",
    package="{package}",
    open_bucket="{package}.storage:open_bucket",
    entrypoints={{"function": "{package}.handler:handle"}},
    function_settings=(Setting("THUMBS_EXAMPLE_REGION", Text("a region name"), meaning="Where the bucket lives."),),
    operator_settings=(Setting("THUMBS_EXAMPLE_QUEUE", Text("a queue name"), meaning="Where backfill work goes."),),
    notifiers={{"examplebus": "{package}.notify:Notifier"}},
)
'''


def install(site: Path, *, distribution: str, package: str, entry_points: str, descriptor: str = "") -> None:
    """A distribution as pip leaves it in site-packages: its metadata, entry points and package."""
    info = site / f"{distribution.replace('-', '_')}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[polythumb.providers]\n{textwrap.dedent(entry_points).strip()}\n")
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(descriptor)
    (site / package / "storage.py").write_text(
        "from core.storage import MemoryStorage\n\ndef open_bucket(name):\n    return MemoryStorage(name)\n"
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory on ``sys.path``; the registry's caches are cleared before and after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    clear()
    yield folder
    clear()
    for name in [name for name in sys.modules if name.startswith("polythumb_example")]:
        del sys.modules[name]


def clear() -> None:
    for cached in (registry.providers, registry.builtin, registry.installed):
        cached.cache_clear()
    importlib.invalidate_caches()


def test_an_installed_provider_is_found_beside_the_built_in_ones(site: Path) -> None:
    install(site, distribution="polythumb-example", package="polythumb_example",
            entry_points="example = polythumb_example:PROVIDER",
            descriptor=DESCRIPTOR.format(name="example", package="polythumb_example"))  # fmt: skip
    built_in = set(registry.builtin())
    assert set(registry.names()) == {*built_in, "example"}
    spec = registry.get("example")
    assert (spec.title, spec.package, spec.folder) == ("Example Cloud", "polythumb_example", site / "polythumb_example")
    assert spec.install_hint == "pip install polythumb-example"
    assert spec.resolve("open_bucket")("b").bucket == "b"
    with pytest.raises(registry.ProviderUnavailable, match=r"pip install polythumb-example"):
        spec.entrypoint("function")  # its handler module is missing: the message says what to install

    # Its settings are its own: the function reads the function's, the commands both, nothing else does.
    runtime = FunctionRuntime(
        MemoryStorage, environ={"THUMBS_DEST_BUCKET": "t", "THUMBS_EXAMPLE_REGION": "r1"}, provider="example"
    )
    assert runtime.config.dest_bucket == "t"
    operator_only = {"THUMBS_DEST_BUCKET": "t", "THUMBS_EXAMPLE_QUEUE": "q"}
    with pytest.raises(ConfigError, match="THUMBS_EXAMPLE_QUEUE is not read here: it is read by polythumb's commands"):
        FunctionRuntime(MemoryStorage, environ=operator_only, provider="example")
    assert load_config({"THUMBS_EXAMPLE_QUEUE": "q"}, extra_settings=spec.settings).sources
    with pytest.raises(ConfigError, match="THUMBS_EXAMPLE_REGION is not read here: it is read by the Example Cloud"):
        load_config({"THUMBS_EXAMPLE_REGION": "r1"})

    # Its notifier scheme is known to THUMBS_NOTIFY like a built-in provider's.
    from core.completion.targets import provider_pieces

    assert provider_pieces()["examplebus"] == ("example", "polythumb_example.notify:Notifier")


def test_the_cli_lists_an_installed_provider(site: Path) -> None:
    """A fresh process finds it too: nothing but the distribution's metadata on the path."""
    install(site, distribution="polythumb-example", package="polythumb_example",
            entry_points="example = polythumb_example:PROVIDER",
            descriptor=DESCRIPTOR.format(name="example", package="polythumb_example"))  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    probe = "from core import registry; print(sorted(registry.names()))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env={"PYTHONPATH": f"{site}:{root}", "PATH": ""},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "'example'" in result.stdout


@pytest.mark.parametrize(
    ("entry_points", "descriptor", "problem"),
    [
        ("example = polythumb_example:PROVIDER", "raise ImportError('no module named examplesdk')",
         "does not load: ImportError: no module named examplesdk"),
        ("example = polythumb_example:PROVIDER", "PROVIDER = {'name': 'example'}", "is a dict, not a"),
        ("example = polythumb_example:MISSING", DESCRIPTOR.format(name="example", package="polythumb_example"),
         "does not load: AttributeError"),
        ("other = polythumb_example:PROVIDER", DESCRIPTOR.format(name="example", package="polythumb_example"),
         "declares name='example': they must match"),
    ],
    ids=["import-error", "not-a-spec", "missing-attribute", "name-mismatch"],
)  # fmt: skip
def test_a_broken_provider_is_an_error_naming_its_distribution(
    site: Path, entry_points: str, descriptor: str, problem: str
) -> None:
    install(site, distribution="polythumb-example", package="polythumb_example", entry_points=entry_points,
            descriptor=descriptor)  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        registry.providers()
    message = str(caught.value)
    assert "polythumb-example 0.3" in message and "polythumb.providers" in message and problem in message


def test_a_provider_claiming_a_built_in_name_is_refused(site: Path) -> None:
    built_in = sorted(registry.builtin())
    if not built_in:
        pytest.skip("this tree has no built-in provider to collide with")
    name = built_in[0]
    install(site, distribution="polythumb-example", package="polythumb_example",
            entry_points=f"{name} = polythumb_example:PROVIDER",
            descriptor=DESCRIPTOR.format(name=name, package="polythumb_example"))  # fmt: skip
    with pytest.raises(ConfigError, match=f"polythumb-example 0.3 registers a provider named '{name}'"):
        registry.providers()


def test_a_function_finds_its_own_provider_without_reading_installed_metadata(site: Path) -> None:
    """A cold start asks for its own provider: a broken unrelated distribution cannot break it, nor slow it."""
    install(site, distribution="polythumb-example", package="polythumb_example",
            entry_points="example = polythumb_example:PROVIDER", descriptor="raise ImportError('broken')")  # fmt: skip
    for name in registry.builtin():
        assert registry.get(name).name == name
    assert registry.installed.cache_info().currsize == 0  # never listed


@pytest.mark.parametrize("name", registry.names())
def test_the_tools_pieces_of_a_descriptor_are_lazy_paths_that_resolve(name: str) -> None:
    """The reports' pieces are ``module:attribute`` paths like the rest: a function's cold start, which imports the
    descriptor, builds none of them (their types live with the tools), and each still resolves for the tools."""
    from core.reports.concepts import TerraformFacts, terraform_facts

    spec = registry.get(name)
    for piece in ("reporting", "pricing", "capacity", "terraform_facts"):
        assert isinstance(getattr(spec, piece), str), piece
    facts = terraform_facts(name)
    assert isinstance(facts, TerraformFacts) and facts.permission_pattern and facts.instance_variables
    assert spec.resolve("reporting")["coldstart"]["module"]
    assert callable(spec.resolve("pricing").estimate)
