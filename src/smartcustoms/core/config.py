"""Settings, read from environment variables prefixed ``SMARTCUSTOMS_``."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScannerAE(BaseModel):
    """A scanner registered for DICOM network intake: the customs offices whose subjects it may scan, what its
    scans are of, and the attribute in which it names the subject (checked by ``inspection/images/scp.py``)."""

    model_config = ConfigDict(extra="forbid")
    offices: list[str]
    subject_kind: str = "declaration"
    subject_attribute: str = "AccessionNumber"
    #: over TLS: the common name its client certificate must carry (unset: the AE title itself)
    certificate_cn: str | None = None


class Settings(BaseSettings):
    """Process-wide settings; every field can be set as ``SMARTCUSTOMS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_", env_file=None, extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: str | None = None      # signs the session cookie; unset: made once, kept in data_dir
    session_cookie_secure: bool = False    # the cookies get the Secure flag and responses HSTS (serve HTTPS)
    session_idle_minutes: int = 60         # a web session unused this long ends
    session_max_hours: int = 12            # a web session ends this long after sign-in, used or not
    password_scrypt_n: int = 2**17         # scrypt cost N of new password hashes (OWASP; tests lower it)
    login_free_failures: int = 5           # failed sign-ins of one account before the back-off starts
    login_free_failures_address: int = 20  # ... and from one client address
    login_max_delay_s: int = 900           # the longest back-off; failures older than this are forgotten
    tariff_csv: Path | None = None
    customs_offices_csv: Path | None = None
    risk_budget: float = 0.10  # share of declarations an office holds for control
    risk_exploration: float = 0.10  # share of that budget chosen at random
    risk_ranking: str = "probability"  # or "duty": probability × duty at stake
    risk_secret: str | None = None  # keys the random controls' draws; unset: made once, kept in data_dir
    max_body_bytes: int = 1 << 20          # a JSON API call or a web form (413 above)
    max_cbec_body_bytes: int = 10 << 20    # POST /api/v1/cbec/messages: a CEB message holds up to 100 documents
    max_upload_bytes: int = 20 << 20       # bulk declaration files and tariff tables
    upload_max_problems: int = 1000        # problems an upload job keeps (the count goes on)
    max_document_bytes: int = 10 << 20     # one document attached to a declaration (PDF, PNG, JPEG, TIFF)
    max_documents: int = 20                # documents one declaration holds
    max_documents_total_bytes: int = 50 << 20  # ... and their total size
    documents_dir: Path | None = None      # where the documents' files are kept; unset: <data_dir>/documents
    images_dir: Path | None = None         # where scan images' files are kept; unset: <data_dir>/images
    max_image_bytes: int = 64 << 20        # one scan file (DICOS, PNG, TIFF)
    images_review_threshold: float | None = None  # anomaly score sending an image to an officer; unset: the model's
    images_tip_share: float = 0.05         # share of review jobs shown with a projected threat (TIP)
    #: documents and scan images in an S3-compatible object store instead of files: s3://bucket[/prefix]
    #: (needs the `s3` extra, boto3; credentials from boto3's usual chain: AWS_* variables, ~/.aws, a role)
    object_store_url: str | None = None
    object_store_endpoint: str | None = None  # e.g. http://minio:9000 for MinIO / other S3-compatible stores
    object_store_region: str | None = None
    images_scp_ae_title: str = "SMARTCUSTOMS"  # our AE title for scanners' DICOM C-STORE (`images scp`)
    #: the scanners allowed to send scans over DICOM, by calling AE title (JSON); any other AE is refused:
    #: {"PORT1XR": {"offices": ["2201"], "subject_kind": "declaration", "subject_attribute": "AccessionNumber"}}
    images_scp_scanners: dict[str, ScannerAE] = {}
    #: DICOM over TLS (PS3.15 secure transport) for `images scp`: our certificate (PEM, with its chain) and key,
    #: and the CA bundle that issues scanners' client certificates (all three, or none); TLS on = client
    #: certificates required and plaintext refused
    images_scp_tls_certificate: Path | None = None
    images_scp_tls_key: Path | None = None
    images_scp_tls_ca: Path | None = None
    #: revocation: a CRL (PEM or DER) or a folder of them, one per CA issuing scanners' certificates; a certificate
    #: it lists, one of an issuer without a CRL there, and all of an issuer whose CRL is stale fail the handshake
    images_scp_tls_crl: Path | None = None
    #: the TLS files (certificate, key, CA, CRL) are looked at for changes at most this often, on an association
    #: (and read at once on SIGHUP); a change is loaded without a restart
    images_scp_tls_reload_seconds: float = 60.0
    images_scp_require_tls: bool = False  # refuse to start the receiver without the three TLS settings

    def resolved_database_url(self) -> str:
        """The database URL; the embedded SQLite file under ``data_dir`` by default."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # 0700 when made here
        path = (self.data_dir / "smartcustoms.db").resolve()
        if not path.exists():  # SQLite makes its -wal and -shm files with the database file's mode
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        return f"sqlite:///{path}"

    def session_secret_path(self) -> Path:
        """Where the generated session secret is kept when ``session_secret`` is not set."""
        return self.data_dir / "session-secret"


class CbecSettings(BaseSettings):
    """CBEC settings, from ``SMARTCUSTOMS_CBEC_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_CBEC_", extra="ignore")

    deadline_s: float = 600.0          # an inventory still missing a document after this is incomplete
    orphan_ttl_s: float = 86_400.0     # documents without an inventory leave memory after this
    positive_list: Path | None = None  # CSV with an ``hs_prefix`` column
    rates_csv: Path | None = None      # CSV ``hs_prefix,tariff,consumption,vat``
    batch_size: int = 1000
    workers: int = 2
    max_pending: int = 50_000          # parcels kept in memory (all writer shards together); older waiting ones
    #                                    are reloaded from the message log
    risk_budget: float = 0.05          # share of an office's parcels held at most on risk score (x credit grade)
    risk_exploration: float = 0.10     # share of that budget held at random for control
    risk_seed: int = 0                 # seed of the random controls (a draw is a hash of seed and parcel key)
    expire_every_s: float = 10.0       # the serving process looks for inventories past their deadline this often
    accept_unsigned: bool = False      # accept CEB621/623/625/711 without ds:Signature (tests and the demo only);
    #                                    a signed message is verified whatever this says
    xsd_dir: Path | None = None        # a folder holding the official CEB import XSD (never committed): every
    #                                    message is validated against it first (slower; the scanner is bypassed)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
