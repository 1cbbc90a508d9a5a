"""Fraud domain logic: address features, the calibrated classifier, anomaly and cluster context, risk scores."""
