"""Settings, read from environment variables prefixed ``SMARTCUSTOMS_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings; every field can be set as ``SMARTCUSTOMS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SMARTCUSTOMS_", env_file=None, extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: str | None = None
    tariff_csv: Path | None = None
    customs_offices_csv: Path | None = None
    risk_budget: float = 0.10  # share of declarations an office holds for control
    risk_exploration: float = 0.10  # share of that budget chosen at random
    risk_ranking: str = "probability"  # or "duty": probability × duty at stake

    def resolved_database_url(self) -> str:
        """The database URL; the embedded SQLite file under ``data_dir`` by default."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'smartcustoms.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
