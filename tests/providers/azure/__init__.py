"""Tests of the Azure provider (Azurite, the Functions worker's converters, packaging and Terraform)."""
