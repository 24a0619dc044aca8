"""Point-in-time risk features: one pipeline for training, live scoring and evaluation.

A goods item's features describe the item itself and the *history known when it was declared*:
for every keyed family (importer, declarant, seller, courier, HS6/HS4/HS2, HS6 x origin, origin,
departure, route, office, tariff type, and party pairs) the state keeps running aggregates.

Point-in-time rules (what keeps evaluation honest):

* declaration aggregates (counts, value statistics, bursts, first/last seen, HS diversity) of a row
  use only rows *earlier in the time-sorted sequence* (earlier ``declared_at``; at equal times, earlier
  arrival), never the row itself;
* outcome aggregates (inspections, offences, critical offences, duty recovered) of a row use only
  outcomes of *other, earlier* declarations whose ``outcome_at`` is ``<=`` the row's ``declared_at``.

Two entry points (:mod:`.state`) share the same specification (:mod:`.families`):

* :func:`~.state.build_features` — batch: a time-sorted item frame in, a feature frame out, state updated
  with its declarations and (pending until ``outcome_at``) its outcomes. Columnar (Polars windows,
  NumPy), no per-row Python.
* :class:`~.state.HistoryState` — incremental, for live scoring: ``features_for`` scores new rows
  without changing the state, ``observe_declarations`` and ``observe_outcomes`` fold in new
  declarations and officers' results; ``score_and_observe`` does the first two in one pass (the live
  path). Up to ``ROWWISE_ROWS`` rows go through the row-wise path (:mod:`.rowwise`), more through the
  columnar one (:mod:`.columnar`); a test holds the two equal.

Aggregates live in sorted ``uint64``-keyed NumPy tables (64-bit hashes of the key values) with a
small sorted overlay for new keys, so a lookup is a binary search and history is never rescanned.
"Unit-value median" is estimated robustly as the running geometric mean (mean of log unit value);
"bursts" are exponentially decayed counts with 7- and 30-day time constants.
"""
