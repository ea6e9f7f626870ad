"""The device's send window: what to send, when to go back, and which acks count (pure, time passed in)."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from sync.agent.window import SendWindow
from sync.hub.config import parse_hub_settings


def test_batches_follow_the_window_and_acks_move_it() -> None:
    w = SendWindow(batch_events=10, window_events=25)
    assert w.next_batch(last_seq=100, now=0) == (1, 10)
    w.sent(1, 10, 0)
    w.sent(*w.next_batch(100, 0) or (0, 0), 0)
    assert w.next_batch(100, 0) == (21, 25)  # the window ends at acked + 25
    w.sent(21, 25, 0)
    assert w.next_batch(100, 0) is None
    assert w.on_ack(10, 0.1)
    assert w.next_batch(100, 0.1) == (26, 35)
    assert w.next_batch(last_seq=5, now=0.1) is None  # nothing new to send


def test_silence_rewinds_to_the_first_unacknowledged_event() -> None:
    w = SendWindow(batch_events=10, window_events=100, ack_timeout_s=5)
    w.sent(1, 10, 0)
    w.sent(11, 20, 0)
    assert w.on_ack(10, 1)
    assert not w.check_timeout(5.9)
    assert w.check_timeout(6.1)
    assert w.next_batch(100, 6.1) == (11, 20)
    assert w.rewinds == 1


def test_an_ack_that_does_not_move_after_a_while_means_a_gap_at_the_hub() -> None:
    w = SendWindow(batch_events=10, window_events=100, fast_resend_s=1)
    w.sent(1, 10, 0)
    w.sent(11, 20, 0)
    w.sent(21, 30, 0)
    assert w.on_ack(10, 0.1)
    assert not w.on_ack(10, 0.2)  # batch 11..20 was sent just now: it may still be on its way
    assert w.next_batch(100, 0.2) == (31, 40)
    assert not w.on_ack(10, 1.5)  # still stuck at 10 long after: resend from 11
    assert w.next_batch(100, 1.5) == (11, 20)


def test_a_late_ack_below_the_mark_is_not_taken_for_a_gap() -> None:
    w = SendWindow(batch_events=10, window_events=100, fast_resend_s=1)
    for first in (1, 11, 21, 31):
        w.sent(first, first + 9, 0)
    assert w.on_ack(20, 2.0)  # two workers: the ack for 11..20 overtook the one for 1..10
    assert not w.on_ack(10, 2.1)
    assert w.next_batch(100, 2.1) == (41, 50)  # no rewind: 21..40 are still on their way
    assert w.rewinds == 0


def test_acks_beyond_what_was_sent_count_only_up_to_it() -> None:
    w = SendWindow(acked=100, batch_events=10)
    assert not w.on_ack(10**9, 0)  # nothing sent yet: a stray ack retires nothing
    w.sent(101, 110, 0)
    assert w.on_ack(10**9, 0) and w.acked == 110
    assert not w.on_ack(50, 0) and w.acked == 110  # late and out of order: the highest stays


def test_hub_settings_name_the_bad_key() -> None:
    good = {"hub": {"database_url": "sqlite:///hub.sqlite", "private_key": "/etc/halfday/hub.key", "workers": 2}}
    assert parse_hub_settings(good).workers == 2
    with pytest.raises(ConfigError) as bad:
        parse_hub_settings({"hub": {**good["hub"], "workers": 0}})
    assert bad.value.key == "hub.workers"
    with pytest.raises(ConfigError) as bad:
        parse_hub_settings({"hub": {**good["hub"], "broker": {"url": "http://x"}}})
    assert bad.value.key == "hub.broker.url"
    with pytest.raises(ConfigError) as bad:
        parse_hub_settings({"hub": {**good["hub"], "web": {"secret_key_file": "/nowhere/secret"}}})
    assert bad.value.key == "hub.web.secret_key_file" and "absent" in bad.value.problem
    with pytest.raises(ConfigError) as bad:
        parse_hub_settings({"hub": {**good["hub"], "web": {"password": "hunter2"}}})
    assert bad.value.key == "hub.web.password" and "inconnue" in bad.value.problem
    with pytest.raises(ConfigError) as bad:
        parse_hub_settings({"hub": {"private_key": "k"}})
    assert bad.value.key == "hub.database_url"
