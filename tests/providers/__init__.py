"""Tests of the cloud providers, one package per provider."""
