"""Seeded generators of realistic declarations (and, in cbec, parcels) with labelled offences."""

from smartcustoms.simulate.declarations import DeclarationSimulator, SimulatedDeclaration, SimulatedEnterprise

__all__ = ["DeclarationSimulator", "SimulatedDeclaration", "SimulatedEnterprise"]
