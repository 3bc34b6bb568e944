"""Monitoring: drift of the champions' inputs and outputs, the retrain trigger, alerts."""
