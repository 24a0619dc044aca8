"""Inspection results recorded by officers, fed back to risk targeting."""
