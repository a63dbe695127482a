"""sync_support.py - helpers for test_history_sync.py: the read pointer,
unread counts, edits and deletes, offline sync and account changes over
HTTP, next to what the broker publishes about them.

  conversation(), member(), history(), history_message()
                     the conversation and its messages as a member sees them
  mark_read()        POST /v1/conversations/{c}/read
  sync_all()         GET /v1/sync, following next_cursor until has_more is
                     false, checking every page on the way
  seq_of(), message_events(), event_ids()
                     reading the events of a sync
  wait_past()        waits until the clock is past a point in time (for
                     what a documented window allows only until then)

Like parley.py, nothing here sleeps to make something happen: every wait
polls a condition and is bounded.
"""

import time

from parley import wait_for

MESSAGE_EVENT_TYPES = ("message", "edited", "deleted")


def now_ms():
    return int(time.time() * 1000)


# ------------------------------------------------------------------ conversations


def conversation(api, user, conv):
    """GET /v1/conversations/{conv} as user; the conversation object."""
    return api.call("GET", f"/v1/conversations/{conv}", expect=200, token=user)


def listed_conversation(api, user, conv):
    """The entry for conv in user's GET /v1/conversations."""
    listed = api.call("GET", "/v1/conversations", expect=200, token=user)["conversations"]
    found = [c for c in listed if c["id"] == conv]
    assert len(found) == 1, (conv, [c["id"] for c in listed])
    return found[0]


def member(conv_object, user):
    """The member entry of user (an Account or id) in a conversation object."""
    user_id = user["id"] if isinstance(user, dict) else user
    found = [m for m in conv_object["members"] if m["id"] == user_id]
    assert len(found) == 1, (user_id, conv_object["members"])
    return found[0]


def read_pointer(api, viewer, conv, user):
    """user's read_up_to as viewer sees it in GET /v1/conversations/{conv}."""
    return member(conversation(api, viewer, conv), user)["read_up_to"]


def mark_read(api, user, conv, up_to):
    """POST /v1/conversations/{conv}/read {"up_to"} as user; the Response."""
    return api.post(f"/v1/conversations/{conv}/read", user, json={"up_to": up_to})


# ------------------------------------------------------------------ history


def history(api, user, conv):
    """Every message of conv as user sees it over HTTP, newest first
    (follows `before` until has_more is false)."""
    out, before = [], None
    for _ in range(1000):
        params = {"limit": 200}
        if before is not None:
            params["before"] = before
        page = api.call("GET", f"/v1/conversations/{conv}/messages", expect=200,
                        token=user, params=params)
        out.extend(page["messages"])
        if not page["has_more"] or not page["messages"]:
            return out
        before = page["messages"][-1]["id"]
    raise AssertionError("history did not end within 1000 pages")


def history_message(api, user, conv, message_id):
    """The message message_id in conv's history as user sees it (exactly
    one entry)."""
    found = [m for m in history(api, user, conv) if m["id"] == message_id]
    assert len(found) == 1, (message_id, found)
    return found[0]


# ------------------------------------------------------------------ sync


def seq_of(event):
    """An event's seq as an int (the API may send it as a decimal string,
    like message ids, or as a number)."""
    seq = event["seq"]
    assert isinstance(seq, (int, str)) and not isinstance(seq, bool), event
    return int(seq)


def sync_page(api, user, since, limit=None):
    """One GET /v1/sync; the Response."""
    params = {"since": since}
    if limit is not None:
        params["limit"] = limit
    return api.get("/v1/sync", user, params=params)


def sync_all(api, user, since="0", limit=None, max_pages=2000):
    """Pages GET /v1/sync from since, following next_cursor until has_more
    is false.  Checks each page's shape, that no page is over limit, that a
    page saying has_more is not empty, and that seq strictly increases
    across pages.  Returns (events, last next_cursor, pages)."""
    events, pages, cursor, last_seq = [], [], since, None
    for _ in range(max_pages):
        resp = sync_page(api, user, cursor, limit)
        assert resp.status == 200, resp
        page = resp.json
        assert isinstance(page, dict), resp
        assert isinstance(page.get("events"), list), page
        assert isinstance(page.get("has_more"), bool), page
        assert isinstance(page.get("next_cursor"), (str, int)), page
        assert not isinstance(page["next_cursor"], bool), page
        if limit is not None:
            assert len(page["events"]) <= limit, (limit, len(page["events"]))
        for ev in page["events"]:
            assert isinstance(ev, dict) and "conv" in ev and "type" in ev, ev
            seq = seq_of(ev)
            assert last_seq is None or seq > last_seq, (last_seq, ev)
            last_seq = seq
        pages.append(page)
        events.extend(page["events"])
        if not page["has_more"]:
            return events, page["next_cursor"], pages
        assert page["events"], f"an empty page that says has_more: {page}"
        cursor = page["next_cursor"]
    raise AssertionError(f"sync did not end within {max_pages} pages")


def message_events(events, types=MESSAGE_EVENT_TYPES):
    """The events that carry a message (of the given types)."""
    return [ev for ev in events if ev["type"] in types]


def event_ids(events, types=MESSAGE_EVENT_TYPES):
    """The message ids of the events of the given types, in order."""
    out = []
    for ev in message_events(events, types):
        assert isinstance(ev.get("message"), dict), ev
        out.append(ev["message"]["id"])
    return out


# ------------------------------------------------------------------ time


def wait_past(unix_ms, what, timeout=30):
    """Waits until the wall clock is past unix_ms (the stack runs on this
    host, so it shares the clock)."""
    wait_for(lambda: now_ms() > unix_ms, timeout=timeout, what=what, interval=0.05)
