"""Tests of the GCP provider: GCS adapter, CloudEvent and background entrypoints, packaging, Terraform."""
