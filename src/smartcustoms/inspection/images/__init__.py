"""Scan images tied to declarations, parcels and manifest lines: DICOS, storage, routing, review, TIP."""
