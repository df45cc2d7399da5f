"""Evidence: what the catalogue can prove and how media relate. The audit trail (every change
a chained event, ``audit``), its trusted timestamps (RFC 3161) and their copies kept outside
the database (``copies``), the cluster walk over links,
the provenance rolled up over a cluster, and the one vocabulary for matches.

The lowest domain: the others record their changes here and read provenance from here.
"""

from . import audit
from .audit import SYSTEM_ACTOR, ChainReport, verify_chain
from .copies import check_copies, export_document, keep_missing_copies, read_export
from .facts import LinkFact, capture_citations
from .provenance import (
    STANCE_WORDS,
    STATUS_WORDS,
    ProvenanceSummary,
    incident_stance,
    summarise,
    summarise_one,
)
from .timestamps import (
    StampReport,
    capture_tokens,
    check_tokens,
    head_due,
    stamp_audit_head,
    stamp_capture,
    timestamp_authorities,
)
from .walk import (
    DEFAULT_CONFIDENCE,
    MAX_CLUSTER,
    clusters,
    grouped,
    link_confidence,
    withdrawn_ids,
)
from .wording import (
    ALGORITHM_NAMES,
    KIND_LABELS,
    evidence_text,
    kind_label,
    link_label,
    match_name,
    stored_algorithm,
    witness,
)

__all__ = [
    "ALGORITHM_NAMES",
    "DEFAULT_CONFIDENCE",
    "KIND_LABELS",
    "MAX_CLUSTER",
    "STANCE_WORDS",
    "STATUS_WORDS",
    "SYSTEM_ACTOR",
    "ChainReport",
    "LinkFact",
    "ProvenanceSummary",
    "StampReport",
    "capture_citations",
    "audit",
    "capture_tokens",
    "check_copies",
    "check_tokens",
    "clusters",
    "evidence_text",
    "export_document",
    "grouped",
    "head_due",
    "incident_stance",
    "keep_missing_copies",
    "kind_label",
    "link_confidence",
    "link_label",
    "match_name",
    "read_export",
    "stamp_audit_head",
    "stamp_capture",
    "stored_algorithm",
    "summarise",
    "summarise_one",
    "timestamp_authorities",
    "verify_chain",
    "withdrawn_ids",
    "witness",
]
