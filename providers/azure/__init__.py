"""polythumb on Azure: Blob Storage adapter, Azure Functions entrypoint, packaging and Terraform.

Nothing here imports an Azure SDK at package import; the submodules that need one
(``storage``, ``connection`` when it builds a client, ``function_app``) import it themselves
and name the extra to install when it is missing.
"""

from __future__ import annotations

#: What to tell a user whose environment lacks the Azure SDKs.
MISSING_SDK_HINT = "the Azure SDKs are not installed; install them with: pip install 'polythumb[azure]'"
