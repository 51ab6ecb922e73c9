from __future__ import annotations

from bot.log_context import request_id, request_id_var


def test_a_fresh_id_for_the_block_and_none_after() -> None:
    with request_id() as first:
        assert request_id_var.get() == first and len(first) == 16
    with request_id() as second:
        assert second != first
    assert request_id_var.get() is None


def test_an_id_already_set_is_kept_and_left_in_place() -> None:
    token = request_id_var.set("req-abc-1")
    try:
        with request_id() as current:
            assert current == "req-abc-1"
        assert request_id_var.get() == "req-abc-1"
    finally:
        request_id_var.reset(token)
