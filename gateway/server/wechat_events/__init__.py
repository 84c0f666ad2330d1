"""The official account's server URL (flow E): ``routes``."""
