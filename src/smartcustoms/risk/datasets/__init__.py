"""Readers that map public or partner datasets to the canonical item frame."""

from smartcustoms.risk.datasets.kcs import KcsFormatError, default_kcs_dir, read_kcs, read_kcs_files

__all__ = ["KcsFormatError", "default_kcs_dir", "read_kcs", "read_kcs_files"]
