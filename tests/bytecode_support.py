"""What a package's shipped bytecode must look like (tests of the three packagers)."""

from __future__ import annotations


def assert_sound_bytecode(names: list[str], *, python_version: str, complete_for: tuple[str, ...] = ()) -> None:
    """Every pyc of an archive is a ``__pycache__`` twin of one of its modules, for ``python_version`` only;
    the modules under ``complete_for`` all have one."""
    tag = f".cpython-{python_version.replace('.', '')}.pyc"
    modules = {name for name in names if name.endswith(".py")}
    for name in names:
        if name.endswith(".pyc"):
            folder, _, file = name.rpartition("/__pycache__/")
            if "/__pycache__/" not in name:
                folder, file = "", name.removeprefix("__pycache__/")
            assert file.endswith(tag), name
            source = f"{folder}/{file.removesuffix(tag)}.py".lstrip("/")
            assert source in modules, name
    for module in modules:
        if module.startswith(complete_for):
            folder, _, file = module.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}{tag}".lstrip("/")
            assert pyc in names, f"{module} has no bytecode"
