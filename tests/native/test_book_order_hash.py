"""The order table under collisions, against the model.

The book finds an order through the reference itself, folded to the size of
its direct table (nearly the identity for a day's increasing references);
an order whose direct slot is taken goes to an overflow pool behind a Robin
Hood hash, and an add above every reference seen skips the duplicate check.
These sequences aim at the seams: references that share direct slots
(multiples of the table size apart, and 64-bit references whose folded high
bits land on the same slot), slot 0 (never a direct slot), runs that wrap
around the end of the overflow hash, deletes from the middle of long runs,
references that go down again (duplicates and reuse), interleaved with
replaces and adds of live references.  After every burst the books must
equal the model's.
"""

from __future__ import annotations

import random

import pytest
from book_model import (
    Model,
    add,
    assert_all_equal,
    cancel,
    delete,
    execute,
    feed_bursts,
    mold_frames,
    replace,
)

from gateway.book import Books

# 60 orders: the direct table has 128 slots (twice the pool, a power of two).
MAX_ORDERS = 60
SLOTS = 128


def colliding_refs(rng: random.Random, n: int) -> list[int]:
    """References that pile onto a few home slots and the table's end."""
    homes = [0, 1, 2, 3, SLOTS - 2, SLOTS - 1]
    refs = set()
    while len(refs) < n:
        kind = rng.random()
        if kind < 0.5:   # same low bits: same home below 2**23
            refs.add(rng.choice(homes) + SLOTS * rng.randint(0, 1000))
        elif kind < 0.8:  # high bits that fold onto the low ones
            hi = rng.randint(1, 2**17)
            refs.add((hi << 46) | (hi << 23) | rng.choice(homes))
        else:             # neighbours, so runs merge
            refs.add(rng.randint(1, 40))
    return sorted(refs)


def hash_ops(rng: random.Random, n: int) -> list[bytes]:
    refs = colliding_refs(rng, 90)
    live: list[int] = []
    out = []
    for i in range(n):
        ts = 1_000 * (i + 1)
        r = rng.random()
        if r < 0.5 or not live:
            ref = rng.choice(refs)  # sometimes live already: a duplicate
            out.append(add(ref, rng.choice("BS"), rng.randint(1, 300),
                           rng.randint(995, 1005), 1, "AAA", ts))
            live.append(ref)
        elif r < 0.75:
            out.append(delete(live.pop(rng.randrange(len(live))), 1, ts))
        elif r < 0.85:
            old = live.pop(rng.randrange(len(live)))
            new = rng.choice(refs)
            out.append(replace(old, new, rng.randint(1, 300), rng.randint(995, 1005), 1, ts))
            live.append(new)
        elif r < 0.93:
            out.append(execute(rng.choice(live), rng.randint(1, 400), i, 1, ts))
        else:
            out.append(cancel(rng.choice(live), rng.randint(1, 400), 1, ts))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_colliding_references_match_the_model(seed: int) -> None:
    rng = random.Random(seed)
    messages = hash_ops(rng, 3_000)
    books = Books(max_instruments=4, max_orders=MAX_ORDERS, max_levels=64, event_capacity=0)
    model = Model(max_orders=MAX_ORDERS, max_levels=64, max_instruments=4)
    overflowed = []

    def check() -> None:
        assert_all_equal(books, model)
        overflowed.append(books.stats()["overflow_orders"])

    feed_bursts(books_decoder(books), mold_frames(messages, [1, 4, 9]), 3, check, model)
    st = books.stats()
    # The sequence did what it is for: a full pool, duplicates, and orders
    # living in the overflow were hit.
    assert st["peak_orders"] >= MAX_ORDERS // 2
    assert max(overflowed) > 0
    assert st["integrity"]["duplicate_ref"] > 0
    assert st["orders"] == sum(b.info().orders for b in books)


def books_decoder(books: Books):  # type: ignore[no-untyped-def]
    from gateway.native import Decoder

    return Decoder(books=books)
