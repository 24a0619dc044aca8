"""Micro-batching of concurrent lodgements: one transaction and one scoring call per batch.

API requests arriving together are gathered (up to ``max_batch``, waiting at most ``max_wait``
after the first) and lodged by a single worker thread through ``DeclarationService.lodge_many``:
the fixed costs of a commit, the feature pipeline and the model call are paid once per batch
instead of once per request, and SQLite sees one writer.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from smartcustoms.core.security import Principal
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import DeclarationService, LodgeResult

_STOP = object()


class LodgeBatcher:
    """Groups concurrent lodgements into batches of up to ``max_batch`` that one worker thread lodges."""
    def __init__(self, service: DeclarationService, max_batch: int = 64, max_wait: float = 0.003) -> None:
        self.service = service
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, who: Principal, declaration: DeclarationIn) -> Future[LodgeResult]:
        """Queue one declaration; the future resolves to its :class:`LodgeResult`."""
        self._ensure_worker()
        fut: Future[LodgeResult] = Future()
        self._queue.put((who, declaration, fut))
        return fut

    def start(self) -> None:
        """Start the worker thread now rather than on the first submission."""
        self._ensure_worker()

    def close(self) -> None:
        """Stop the worker thread after the queued declarations are lodged."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    def _ensure_worker(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="lodge-batcher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._lodge(batch)
            if stop:
                return

    def _lodge(self, batch: list) -> None:
        groups: dict[Principal, list] = {}
        for who, declaration, fut in batch:
            groups.setdefault(who, []).append((declaration, fut))
        for who, items in groups.items():
            try:
                results = self.service.lodge_many(who, [d for d, _ in items], read_back=True)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request
                for _, fut in items:
                    fut.set_exception(exc)
                continue
            for (_, fut), res in zip(items, results, strict=True):
                fut.set_result(res)
