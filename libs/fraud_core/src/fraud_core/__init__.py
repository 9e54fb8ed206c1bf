"""Fraud-detection core: schema, simulation, features, model, evaluation and report."""
