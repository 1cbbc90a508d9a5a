"""Fraud assets: address features, the supervised and anomaly models, their evaluation, risk scores."""
