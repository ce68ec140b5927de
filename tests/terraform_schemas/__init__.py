"""Pinned, trimmed Terraform provider schemas for the offline schema check (tests/terraform_schema.py).

One JSON file per provider, ``<name>-<version>.json``: every resource and data source type name the provider
has, and the full schema of those the stacks use, plus the provider block's own schema. Made by
``python -m tests.terraform_schemas.regenerate`` (which scans the stacks for the types they use); the
mapping from CDKTF bindings to schemas is proved against a real ``terraform providers schema -json`` by
``python -m tests.terraform_schemas.crosscheck``. Test data only: not shipped in the wheel.
"""
