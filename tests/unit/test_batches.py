"""Batches of any size in statements of a few fixed shapes (``dealercrm.db.batches``)."""

from __future__ import annotations

from dealercrm.db.batches import in_chunks, padded, power_chunks


def test_an_in_list_is_padded_to_a_power_of_two_with_its_last_value():
    assert padded([7]) == [7]
    assert padded([1, 2, 3]) == [1, 2, 3, 3]
    assert padded(list(range(5))) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert {len(padded(list(range(n)))) for n in range(1, 201)} == {1, 2, 4, 8, 16, 32, 64, 128, 256}


def test_long_in_lists_come_in_padded_chunks_of_at_most_the_limit():
    chunks = list(in_chunks(list(range(1100)), 512))
    assert [len(c) for c in chunks] == [512, 512, 128] and chunks[-1][-1] == 1099
    assert sorted(set(v for c in chunks for v in c)) == list(range(1100))


def test_rows_go_in_chunks_of_powers_of_two_and_none_is_lost_or_repeated():
    rows = list(range(165))
    chunks = list(power_chunks(rows))
    assert [len(c) for c in chunks] == [128, 32, 4, 1]
    assert [r for c in chunks for r in c] == rows
    assert [len(c) for c in power_chunks(list(range(600)), most=256)] == [256, 256, 64, 16, 8]
    assert list(power_chunks([])) == []
