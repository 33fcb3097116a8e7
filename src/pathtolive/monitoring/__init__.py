"""Watching live models: drift, decay, alerts, reports, and the retraining loop."""
