"""Declarations in storage, on SQLite and PostgreSQL: idempotency under concurrency, unique numbers, status
as the projection of the events."""

from __future__ import annotations

import threading

from smartcustoms.declarations.schemas import DeclarationIn
from tests.support import World, declaration_payload


def test_concurrent_repeats_of_one_message_make_one_declaration(world: World):
    payload = DeclarationIn.model_validate(declaration_payload())
    results, errors = [], []

    def send():
        try:
            results.append(world.platform.declarations.lodge(world.principals["trader"], payload))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len({out.declaration_no for out, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(world.platform.declarations.search(world.principals["trader"])) == 1


def test_declaration_numbers_are_unique_across_a_batch_and_offices(world: World):
    batch = [DeclarationIn.model_validate(declaration_payload(office_code=o)) for o in ["2248", "2201"] * 20]
    results = world.platform.declarations.lodge_many(world.principals["trader"], batch)
    numbers = [r.declaration_no for r in results]
    assert len(set(numbers)) == 40 and all(len(n) == 18 for n in numbers)
    assert sum(n.startswith("2248") for n in numbers) == 20


def test_status_is_the_projection_of_the_last_event(world: World):
    from smartcustoms.declarations.lifecycle import replay

    trader = world.principals["trader"]
    out, _ = world.platform.declarations.lodge(trader, DeclarationIn.model_validate(declaration_payload()))
    events = world.platform.declarations.events(trader, out.declaration_no)
    assert replay([e.to_status for e in events]) == out.status
