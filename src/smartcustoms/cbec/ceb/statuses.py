"""CEB receipt status codes (``returnStatus``) and their names."""

# receipt returnStatus codes (CEB622 uses all; 312/412/512 use 120 and 100)
ENTERED, REJECTED, MANUAL_REVIEW, DECIDED, INSPECTION = 120, 100, 300, 399, 500
DETAINED_CLEARANCE, DETAINED_ANTI_SMUGGLING, DETAINED_LEGAL, DETAINED_OTHER = 501, 502, 503, 599
RETURNED, RELEASED, CLOSED, NOT_PROCESSED = 700, 800, 899, -1
STATUS_NAMES = {
    120: "entered customs", 100: "rejected", 300: "manual review", 399: "decided", 500: "inspection",
    501: "detained, passed to clearance", 502: "detained, passed to anti-smuggling",
    503: "detained, passed to legal", 599: "other detention", 700: "returned", 800: "released",
    899: "closed", -1: "could not be processed",
}
