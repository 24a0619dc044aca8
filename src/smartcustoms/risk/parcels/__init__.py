"""Parcel targeting: the parcel risk score (:mod:`.scoring`) and the parcel selectivity (:mod:`.selectivity`)."""
