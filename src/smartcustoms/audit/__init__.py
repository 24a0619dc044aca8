"""Append-only audit log of officers', analysts' and administrators' actions."""
