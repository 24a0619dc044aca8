"""Enterprises (importers, declarants, platforms, ...), credit grades, users and API keys."""
