"""The declaration page's manifest card: the manifest line its transport document stands for."""

from __future__ import annotations

from typing import Any, Protocol

from smartcustoms.core.errors import NotFound
from smartcustoms.core.security import Principal
from smartcustoms.declarations.schemas import DeclarationOut
from smartcustoms.manifests.schemas import ManifestLineOut


class ManifestLines(Protocol):
    """What the declaration page needs of the manifests domain: the line of a transport document."""

    def line_for(self, document_no: str, declaration_no: str | None = None) -> ManifestLineOut | None:
        """The manifest line (with legs and open discrepancies) of ``document_no``, or None."""


def manifest_line_context(lines: ManifestLines, who: Principal, d: DeclarationOut) -> dict[str, Any]:
    """The card's context: the line of the declaration's transport document. Customs see its figures, carrier,
    pre-loading outcome, open discrepancies and legs; the declaring trader sees only that the document is
    manifested, in which mode and on which conveyance (a typed number must not open another party's manifest)."""
    doc = d.transport_document_no
    if not doc:
        return {"manifest_doc": None, "manifest_line": None, "manifest_customs": who.is_customs}
    try:
        line = lines.line_for(doc, d.declaration_no)
    except NotFound:
        line = None
    return {"manifest_doc": doc, "manifest_line": line, "manifest_customs": who.is_customs}
