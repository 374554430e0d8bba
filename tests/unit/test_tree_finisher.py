"""The tree finisher: batched hand-over, run in order, and a wait that never hangs."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from keyark.archiver.finisher import TreeFinisher


def test_items_run_in_the_order_given_on_one_thread() -> None:
    ran: list[tuple[int, str]] = []

    def work(item: int) -> int:
        ran.append((item, threading.current_thread().name))
        return item * 2

    finisher: TreeFinisher[int, int] = TreeFinisher(work, batch=4)
    futures = [finisher.submit(n) for n in range(10)]
    assert futures[-1].result(timeout=10) == 18  # waiting hands over the unfull batch
    finisher.shutdown()
    assert [item for item, _ in ran] == list(range(10))
    assert {name for _, name in ran} == {ran[0][1]} and ran[0][1].startswith("keyark-tree")
    assert [f.result() for f in futures] == [n * 2 for n in range(10)]


def test_a_queued_item_runs_only_once_handed_over() -> None:
    """Positive control for the flush on wait: below the batch size nothing runs until
    someone waits (or shuts down); the wait then gets the result at once."""
    ran: list[int] = []

    def work(item: int) -> int:
        ran.append(item)
        return item

    finisher: TreeFinisher[int, int] = TreeFinisher(work, batch=8)
    future = finisher.submit(1)
    threading.Event().wait(0.2)
    assert ran == [] and not future.done()
    assert future.result(timeout=10) == 1
    finisher.shutdown()


def test_a_parent_waiting_for_its_children_in_the_same_batch_does_not_hang() -> None:
    finisher: TreeFinisher[tuple[str, list[Future[str]]], str]

    def finish(item: tuple[str, list[Future[str]]]) -> str:
        name, children = item
        return name + "(" + ",".join(child.result(timeout=10) for child in children) + ")"

    finisher = TreeFinisher(finish, batch=64)
    leaf_a = finisher.submit(("a", []))
    leaf_b = finisher.submit(("b", []))
    inner = finisher.submit(("i", [leaf_a]))
    root = finisher.submit(("r", [inner, leaf_b]))
    assert root.result(timeout=10) == "r(i(a()),b())"
    finisher.shutdown()


def test_an_error_reaches_the_waiter_and_the_rest_still_runs() -> None:
    def work(item: int) -> int:
        if item == 2:
            raise ValueError("bad directory")
        return item

    finisher: TreeFinisher[int, int] = TreeFinisher(work, batch=3)
    futures = [finisher.submit(n) for n in range(5)]
    finisher.shutdown()  # runs what is queued
    with pytest.raises(ValueError, match="bad directory"):
        futures[2].result()
    assert [futures[n].result() for n in (0, 1, 3, 4)] == [0, 1, 3, 4]
