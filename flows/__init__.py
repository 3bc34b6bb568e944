"""Prefect flows: thin recipes; each task is one call into :mod:`aaiti` plus retries and logs."""
