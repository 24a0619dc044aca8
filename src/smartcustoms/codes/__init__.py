"""Code lists: HS nomenclature, countries, currencies, trade and transport modes, units, offices.

Every list is loaded once and looked up through dicts or sets (O(1)); ``code_lists()`` returns the
process-wide instance.
"""

from smartcustoms.codes.service import CodeLists, code_lists

__all__ = ["CodeLists", "code_lists"]
