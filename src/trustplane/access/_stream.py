"""Fail-closed output filtering for streams: incremental classification with a hold-back window.

The guard holds back the newest ``window`` characters of the output. Before it releases a
character, it has classified a text window that contains the ``window`` characters on each side of
it (or everything up to the start and end of the answer). So for any classifier whose verdict on a
text is decided by spans of at most ``window`` characters (the keyword classifier: its longest
phrase), no character of a span the caller is not entitled to is ever released, however the
upstream splits its chunks: mid-word splits, late onset and category switches included.

A window the policy says to ``redact`` is suppressed and replaced by one marker per run; the
suppressed text stays in the context of later windows, so the rest of a split gated phrase is caught
too. A window the policy ``refuse``s stops the stream: nothing after it is released.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from trustplane.access._policy import ACTION_SEVERITY, Decision

Judge = Callable[[str], Decision]
"""Classifies a text window and returns the policy's output-stage decision for it."""


def redaction_marker(decision: Decision) -> str:
    """What replaces a redacted run of output: ``[redacted: <category>/<band>]``."""
    return f"[redacted: {decision.category}/{decision.band}]"


@dataclass(frozen=True)
class GuardEvent:
    """What the guard lets through: released ``text``, a ``redacted`` marker, or ``stop`` (refused)."""

    kind: Literal["text", "redacted", "stop"]
    text: str = ""
    decision: Decision | None = None
    offset: int = 0  # where in the upstream output the released (or suppressed) text starts


@dataclass
class GuardStats:
    checks: int = 0
    redactions: int = 0
    released_chars: int = 0
    suppressed_chars: int = 0
    worst: Decision | None = None
    stopped: Decision | None = None
    decisions: list[Decision] = field(default_factory=list)  # distinct (action, category, band), first seen


class StreamGuard:
    """Incremental, fail-closed output filter (see the module documentation for the guarantee)."""

    def __init__(
        self,
        judge: Judge,
        *,
        window: int,
        step: int = 1,
        marker: Callable[[Decision], str] = redaction_marker,
    ) -> None:
        if window < 1 or step < 1:
            raise ValueError("window and step must be positive")
        self.judge = judge
        self.window = window
        self.step = step
        self.marker = marker
        self.stats = GuardStats()
        self._context = ""  # the last `window` characters already decided (released or suppressed)
        self._pending = ""
        self._offset = 0  # upstream position of the first pending character
        self._in_redaction = False
        self._finished = False
        self._seen: set[tuple[str, str, str | None]] = set()

    @property
    def stopped(self) -> bool:
        return self.stats.stopped is not None

    @property
    def held_back(self) -> int:
        """Characters received but not yet decided."""
        return len(self._pending)

    def feed(self, delta: str) -> list[GuardEvent]:
        """Take the next piece of upstream output; return what may be passed on now."""
        if self._finished:
            raise RuntimeError("the stream guard is finished")
        if self.stopped or not delta:
            return []
        self._pending += delta
        events: list[GuardEvent] = []
        while not self.stopped and len(self._pending) >= self.window + self.step:
            events += self._decide(len(self._pending) - self.window)
        return events

    def finish(self) -> list[GuardEvent]:
        """The upstream is done: decide the held-back tail."""
        if self._finished:
            return []
        self._finished = True
        if self.stopped or not self._pending:
            return []
        return self._decide(len(self._pending))

    def _decide(self, upto: int) -> list[GuardEvent]:
        decision = self.judge(self._context + self._pending)
        stats = self.stats
        stats.checks += 1
        key = (decision.action, decision.category, decision.band)
        if key not in self._seen:
            self._seen.add(key)
            stats.decisions.append(decision)
        if stats.worst is None or ACTION_SEVERITY[decision.action] > ACTION_SEVERITY[stats.worst.action]:
            stats.worst = decision
        offset = self._offset
        chunk, self._pending = self._pending[:upto], self._pending[upto:]
        self._offset += len(chunk)
        self._context = (self._context + chunk)[-self.window :]
        if decision.action == "allow":
            self._in_redaction = False
            stats.released_chars += len(chunk)
            return [GuardEvent("text", chunk, decision, offset)] if chunk else []
        if decision.action == "redact":
            stats.suppressed_chars += len(chunk)
            if self._in_redaction:
                return []
            self._in_redaction = True
            stats.redactions += 1
            return [GuardEvent("redacted", self.marker(decision), decision, offset)]
        # refuse (and, defensively, anything else): stop here; nothing more is released.
        stats.suppressed_chars += len(chunk) + len(self._pending)
        stats.stopped = decision
        self._pending = ""
        return [GuardEvent("stop", "", decision, offset)]
