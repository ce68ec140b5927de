"""Azure in the backfill capacity model (:mod:`core.reports.capacity`): its limits and its two rows.

Repository tooling: read by ``python -m core.reports.capacity`` through the registry, never packaged.
Deploy values are those of ``deploy/`` (``instance_memory_mb`` 2048, ``maximum_instance_count`` 40, with
``host.json`` letting one instance take ``batchSize`` 2 + ``newBatchThreshold`` 1 = 3 messages at once);
``tests/test_backfill_model.py`` checks them.
"""

from __future__ import annotations

from core.reports.capacity import Scenario, Source

SOURCES = {
    "flex": Source(
        "Flex Consumption: 2,048 MB instances have 1 CPU core; maximum instance count 40..1,000 (default 100)",
        "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan",
    ),
    "storage_queue": Source(
        "Queue Storage: up to 2,000 messages/s per queue, 20,000 per account (1 KiB messages)",
        "https://learn.microsoft.com/azure/storage/queues/scalability-targets",
    ),
    "azure_account": Source(
        "Standard storage account: 20,000 requests/s by default",
        "https://learn.microsoft.com/azure/storage/common/scalability-targets-standard-account",
    ),
}

# Per image on the images account: HEAD + GET of the source, 2 HEADs + 2 PUTs of thumbnails, and the
# backfill queue's Put, Get and Delete Message (the queue lives on the same account).
_ACCOUNT = 20_000 / 9

SCENARIOS = [
    Scenario("azure", "deploy defaults (40 instances)", 40, 3, 1.0, "128x128,512x512", "storage-queue", _ACCOUNT,
             sources=("flex", "storage_queue", "azure_account")),
    Scenario("azure", "platform default (100 instances, --workers 64)", 100, 3, 1.0, "128x128,512x512",
             "storage-queue", _ACCOUNT, workers=64, sources=("flex", "storage_queue", "azure_account")),
]  # fmt: skip
