import numpy as np

from omnicore.identity import counter_allocator, stable_customer_ids

AT = np.datetime64("2024-01-01", "us")


def test_split_largest_part_keeps_id():
    # customer 5 had four identifiers; they split 3 + 1
    ids, events = stable_customer_ids(
        np.array([0, 0, 0, 1]), np.array([5, 5, 5, 5]), allocate=counter_allocator(10), at=AT
    )
    assert ids.tolist() == [5, 5, 5, 10]
    assert events.kind.tolist() == ["split"]
    assert (events.from_customer[0], events.to_customer[0]) == (5, 10)


def test_merge_oldest_survives_and_new_ids_for_new_components():
    ids, events = stable_customer_ids(
        np.array([0, 0, 1, 2, -1]), np.array([9, 4, -1, -1, 3]), allocate=counter_allocator(20), at=AT
    )
    assert ids.tolist() == [4, 4, 20, 21, -1]
    assert events.kind.tolist() == ["merge", "create", "create"]
    assert events.from_customer.tolist() == [9, -1, -1]
    assert events.to_customer.tolist() == [4, 20, 21]


def test_unchanged_partition_emits_nothing():
    ids, events = stable_customer_ids(
        np.array([0, 1, 1]), np.array([2, 8, 8]), allocate=counter_allocator(9), at=AT
    )
    assert ids.tolist() == [2, 8, 8]
    assert len(events) == 0
