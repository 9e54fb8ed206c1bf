"""Dagster+ Hybrid code location that monitors the fraud model: drift, realised performance, health."""
