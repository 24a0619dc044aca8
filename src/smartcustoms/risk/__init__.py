"""Risk targeting, in three wings.

* Offline modelling: :mod:`.frame` (the canonical item frame), :mod:`.features` (point-in-time
  features: :class:`~smartcustoms.risk.features.state.HistoryState`,
  :func:`~smartcustoms.risk.features.state.build_features`), :mod:`.offence_model` (``RiskModel``),
  :mod:`.evaluate`, :mod:`.replay`, :mod:`.synthetic`, :mod:`.datasets`.
* Live declaration targeting: :mod:`.targeting` (rules, policy, the selectivity engine, registry, API).
* Parcel targeting: :mod:`.parcels` (the parcel-scoring interface CBEC uses, the parcel selectivity).
"""
