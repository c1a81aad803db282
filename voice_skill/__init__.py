"""Offline voice first-aid guide for a person in an acute back muscle spasm."""

__version__ = "0.1.0"
