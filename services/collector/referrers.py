"""Which site a referrer is: source and medium by host (and, for a few, a path prefix), from
Ghost's maintained referrer list (referrer_list/, vendored at a pinned version by `make
referrers`), plus the few hosts Overt names itself: AI assistants (a medium of Overt's own,
`ai`) and social sites the list does not have yet."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson

LIST = Path(__file__).parent / "referrer_list" / "referrers.json"
# The list's media, as Overt stores them; its "unknown" and "referral" are a plain referral.
MEDIA = {"search": "search", "social": "social", "email": "email", "paid": "paid"}
# Overt's own entries, ahead of the list's.
OWN = {
    "threads.net": ("Threads", "social"),
    "threads.com": ("Threads", "social"),
    "chatgpt.com": ("ChatGPT", "ai"),
    "chat.openai.com": ("ChatGPT", "ai"),
    "perplexity.ai": ("Perplexity", "ai"),
    "claude.ai": ("Claude", "ai"),
    "gemini.google.com": ("Gemini", "ai"),
    "copilot.microsoft.com": ("Copilot", "ai"),
}
Known = tuple[str, str]  # source, medium


@cache
def referrer_index() -> dict[str, list[tuple[str, Known]]]:
    """Host (without `www.`) -> its entries as (path prefix, (source, medium)), the longest
    prefix first; a host's own entry has the prefix "/"."""
    index: dict[str, list[tuple[str, Known]]] = {}
    listed: dict[str, dict[str, str]] = orjson.loads(LIST.read_bytes())
    for key, entry in listed.items():
        host, _, path = key.partition("/")
        known = (entry["source"], MEDIA.get(entry["medium"], "referral"))
        index.setdefault(host.lower().removeprefix("www."), []).append(("/" + path, known))
    for host, known in OWN.items():
        index[host] = [("/", known)]
    for entries in index.values():
        entries.sort(key=lambda item: len(item[0]), reverse=True)
    return index


def known_referrer(host: str, path: str) -> Known | None:
    """The source and medium of a referrer on `host` (lowercase, without `www.`) and `path`:
    the host's entry, else its parent domain's (`m.example.com` is `example.com`), with the
    longest matching path prefix; None for a host the list does not know."""
    index = referrer_index()
    labels = host.split(".")
    for start in range(len(labels) - 1):
        entries = index.get(".".join(labels[start:]))
        if entries:
            for prefix, known in entries:
                if path.startswith(prefix) or prefix == "/":
                    return known
    return None
