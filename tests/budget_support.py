"""Reading a stack's budget.tf (tests/providers/<cloud>/test_budget.py): its budget, locals, provider block, and
the checks every cloud's budget shares (off unless an amount is given, thresholds and amounts validated).

Read with python-hcl2 and evaluated with ``terraform console`` (no provider involved, nothing downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.terraform import ROOT, accepts, block, evaluate, expression_of, load_module


class Stack:
    """One provider's deploy folder, as its budget tests read it."""

    def __init__(self, cloud: str, budget_type: str) -> None:
        self.folder: Path = ROOT / "providers" / cloud / "deploy"
        self.module = load_module(self.folder)
        self.budget_type = budget_type

    @property
    def budget(self) -> dict[str, Any]:
        return block(self.module, "resource", self.budget_type, "deployment")

    def resource(self, kind: str, name: str, *, block_type: str = "resource") -> dict[str, Any]:
        return block(self.module, block_type, kind, name)

    def local(self, name: str) -> str:
        """The HCL source of ``local.<name>``."""
        for found in self.module.get("locals", []):
            if name in found:
                return hcl(found[name])
        raise AssertionError(f"no local {name} in {self.folder}")

    def provider(self, name: str) -> dict[str, Any]:
        [body] = [found[name] for found in self.module["provider"] if name in found]
        return dict(body)

    def output(self, name: str) -> dict[str, Any]:
        [body] = [found[name] for found in self.module["output"] if name in found]
        return dict(body)

    def default(self, variable: str) -> Any:
        for found in self.module.get("variable", []):
            if variable in found:
                return found[variable].get("default")
        raise AssertionError(f"no variable {variable}")

    def made(self, **variables: str) -> int:
        """How many budgets the ``count`` makes for ``variables`` (HCL sources)."""
        count = expression_of(self.budget["count"])
        locals_ = {"budget": self.local("budget")} if "local.budget" in count else {}
        result: int = evaluate(count, locals_=locals_, variables=variables)
        return result

    def check_validations(self, *, notifications_limited: bool) -> None:
        """Thresholds and amounts are refused at plan when out of range."""
        assert accepts(self.folder, "budget_thresholds", "[50, 80, 100]")
        assert not accepts(self.folder, "budget_thresholds", "[]")
        assert not accepts(self.folder, "budget_thresholds", "[0]")
        assert accepts(self.folder, "budget_amount", "null") and accepts(self.folder, "budget_amount", "0.5")
        assert not accepts(self.folder, "budget_amount", "0") and not accepts(self.folder, "budget_amount", "-3")
        if notifications_limited:  # five notifications a budget, one being the forecast's
            assert not accepts(self.folder, "budget_thresholds", "[10, 20, 30, 40, 50]")


def hcl(value: Any) -> str:
    """HCL source of a value python-hcl2 read: an object literal back to ``{ "k" = v }``, else the expression."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{key}" = {hcl(item)}' for key, item in value.items()) + " }"
    return expression_of(value) if value.startswith("${") and value.endswith("}") else f'"{value}"'
