"""Dagster+ Hybrid code location for the fraud-detection pipeline."""
