"""polythumb's provider-agnostic core: no cloud SDK is imported from here."""

from __future__ import annotations

__version__ = "0.1.0"
