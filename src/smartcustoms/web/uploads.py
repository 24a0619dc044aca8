"""Bulk upload jobs of the web page: lodged in batches, kept on disk so they survive a restart.

A job keeps its first problems (``upload_max_problems``) and a count of all of them, never the whole
list. Each job is a small JSON file ``<data_dir>/uploads/<id>.json``, written atomically and readable
by the server's user only; only the user who uploaded the file sees its job.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from smartcustoms.core.security import Principal
from smartcustoms.declarations.ingest import ProblemLog, batches, lodge_chunk, parse_file
from smartcustoms.platform import Platform

UPLOAD_BATCH = 200
SAVE_EVERY_S = 1.0  # a running job's file is rewritten at most this often
KEEP_PER_OWNER = 50  # job files kept per user; older ones are deleted when a new job starts
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
INTERRUPTED = "the upload was interrupted by a restart; upload the file again (records already lodged are repeats)"


@dataclass
class UploadJob:
    """A bulk file being lodged in batches; the page polls its progress and per-row report."""

    id: str
    owner: int
    filename: str
    total: int = 0
    done: int = 0
    state: str = "running"
    lanes: Counter = field(default_factory=Counter)
    created: int = 0
    repeated: int = 0
    rejected: int = 0
    problems: ProblemLog = field(default_factory=ProblemLog)
    #: the declarations stored from the file (line, declaration number, status, lane, new), the first ones
    lodged: list[dict] = field(default_factory=list)
    lodged_keep: int = 1000

    def note_lodged(self, line: int, no: str, status: str | None, lane: str | None, new: bool) -> None:
        """Keep a stored declaration for the report (while fewer than ``lodged_keep`` are kept)."""
        if len(self.lodged) < self.lodged_keep:
            self.lodged.append({"line": line, "no": no, "status": status, "lane": lane, "new": new})

    def as_dict(self) -> dict:
        """The job as the status endpoint answers it (without its owner); problems in line order."""
        return {"id": self.id, "filename": self.filename, "total": self.total, "done": self.done,
                "state": self.state, "created": self.created, "repeated": self.repeated,
                "rejected": self.rejected, "lanes": dict(self.lanes), "problems": self.problems.by_line(),
                "problem_count": self.problems.count, "lodged": sorted(self.lodged, key=lambda r: r["line"]),
                "csv": self.filename.lower().endswith(".csv")}

    def to_file(self) -> dict:
        """The job as stored on disk."""
        return {**self.as_dict(), "owner": self.owner, "problem_keep": self.problems.keep,
                "lodged_keep": self.lodged_keep}

    @classmethod
    def from_file(cls, obj: dict) -> UploadJob:
        """A job read back from its file."""
        log = ProblemLog(int(obj.get("problem_keep", 1000)), list(obj.get("problems", [])),
                         int(obj.get("problem_count", 0)))
        return cls(obj["id"], int(obj["owner"]), obj["filename"], obj["total"], obj["done"], obj["state"],
                   Counter(obj.get("lanes", {})), obj["created"], obj["repeated"], obj["rejected"], log,
                   list(obj.get("lodged", [])), int(obj.get("lodged_keep", 1000)))


class UploadStore:
    """Upload jobs: running ones in memory, every one in its own owner-only file under ``directory``."""

    def __init__(self, directory: Path, max_problems: int = 1000) -> None:
        self.directory = directory
        self.max_problems = max_problems
        self._running: dict[str, UploadJob] = {}
        self._lock = threading.Lock()

    def new(self, owner: int, filename: str) -> UploadJob:
        """A new running job for ``owner``, saved at once; the owner's oldest job files beyond the cap go."""
        import uuid

        job = UploadJob(uuid.uuid4().hex, owner, filename, problems=ProblemLog(self.max_problems),
                        lodged_keep=self.max_problems)
        with self._lock:
            self._running[job.id] = job
        self.save(job)
        self._prune(owner)
        return job

    def save(self, job: UploadJob) -> None:
        """Write the job's file atomically (a temporary file renamed over it), mode 0600."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(job.to_file(), ensure_ascii=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".job-", dir=self.directory)  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / f"{job.id}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def finished(self, job: UploadJob) -> None:
        """Save the job's final state and stop keeping it in memory."""
        self.save(job)
        with self._lock:
            self._running.pop(job.id, None)

    def get(self, job_id: str, owner: int) -> UploadJob | None:
        """The job, if it exists and belongs to ``owner``; a job left running by a stopped process is failed."""
        if not _JOB_ID.match(job_id):
            return None
        job = self._running.get(job_id)
        if job is None:
            job = self._read(self.directory / f"{job_id}.json")
            if job is not None and job.state == "running":  # its thread died with an earlier process
                job.state = "failed"
                job.problems.add(0, "file", INTERRUPTED)
        if job is None or job.owner != owner:
            return None
        return job

    def _read(self, path: Path) -> UploadJob | None:
        try:
            return UploadJob.from_file(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _prune(self, owner: int) -> None:
        mine = [(p.stat().st_mtime, p) for p in self.directory.glob("*.json")
                if (j := self._read(p)) is not None and j.owner == owner and j.id not in self._running]
        for _, path in sorted(mine, reverse=True)[KEEP_PER_OWNER:]:
            path.unlink(missing_ok=True)


def count_lines(text: str) -> int:
    """Non-blank lines of ``text``: a file's records, or an upper bound for CSV (a header, grouped rows)."""
    return sum(1 for line in io.StringIO(text, newline=None) if line.strip())


def run_upload(platform: Platform, who: Principal, job: UploadJob, text: str, store: UploadStore) -> None:
    """Parse the file and lodge its valid records in batches, noting the problems by line and column."""
    saved = time.monotonic()
    try:
        job.total = count_lines(text) - (1 if job.filename.lower().endswith(".csv") else 0)
        for chunk in batches(parse_file(job.filename, text, platform.codes), UPLOAD_BATCH):
            found: list[tuple[int, str, str]] = []
            for res in lodge_chunk(platform.declarations, who, chunk):
                found += res.problems
                if res.rejected:
                    job.rejected += 1
                else:
                    job.created += res.created
                    job.repeated += not res.created
                    if res.lane:
                        job.lanes[res.lane] += 1
                if res.declaration_no:
                    job.note_lodged(res.line, res.declaration_no, res.status, res.lane, res.created)
            for line, column, message in sorted(found, key=lambda p: p[0]):
                job.problems.add(line, column, message)
            job.done += len(chunk)
            if time.monotonic() - saved >= SAVE_EVERY_S:  # progress on disk, without a write per batch
                store.save(job)
                saved = time.monotonic()
        job.total = job.done
        job.state = "done"
    except Exception as exc:  # noqa: BLE001 - the page reports the failure instead of hanging
        job.state = "failed"
        job.problems.add(0, "file", str(exc))
    finally:
        store.finished(job)


def report_csv(job: UploadJob) -> str:
    """The job's problems as a CSV file: line, column (or field), problem."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["line", "column" if job.filename.lower().endswith(".csv") else "field", "problem"])
    for p in job.problems.by_line():
        w.writerow([p["line"], p["field"], p["message"]])
    if job.problems.dropped:
        w.writerow(["", "", f"... and {job.problems.dropped} more problems ({job.problems.count} in all)"])
    return out.getvalue()
