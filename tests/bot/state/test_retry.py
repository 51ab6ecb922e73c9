from datetime import timedelta

from bot.state.retry import retry_delay


def test_the_delay_doubles_from_the_base_up_to_the_cap() -> None:
    base, cap = timedelta(seconds=30), timedelta(minutes=10)
    delays = [retry_delay(n, base=base, cap=cap) for n in range(0, 8)]
    assert [d.total_seconds() for d in delays] == [30, 30, 60, 120, 240, 480, 600, 600]
