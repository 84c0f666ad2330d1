"""Orchestration of the login flows (no web framework here)."""
