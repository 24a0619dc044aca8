"""Risk targeting: point-in-time features, the offence model, evaluation and replay.

Public seam for live scoring: :mod:`smartcustoms.risk.schema` (the canonical item frame),
:class:`smartcustoms.risk.features.HistoryState` / :func:`smartcustoms.risk.features.build_features`
and :class:`smartcustoms.risk.model.RiskModel`.
"""
