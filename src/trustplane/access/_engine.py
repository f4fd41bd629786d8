"""The decision engine without I/O: taxonomy + classifier + policy, for prompts and output windows.

:class:`AccessEngine` is what ``trustplane access check`` runs offline and what the gateway runs per
request. It classifies a prompt (every message and the whole conversation; the most severe verdict
wins, so a request split across messages is still seen whole), decides it under the policy, and
judges output windows for the :class:`~trustplane.access._stream.StreamGuard`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trustplane.access._errors import AccessConfigError, ClassifierUnavailableError
from trustplane.access._policy import Decision, PolicyEngine, Stage, most_severe
from trustplane.access._principal import Principal
from trustplane.access._stream import GuardEvent, StreamGuard
from trustplane.access._taxonomy import BANDS, BENIGN, Band, Taxonomy, load_taxonomy
from trustplane.access.classifiers import Classification, RiskClassifier, get_classifier
from trustplane.core.config import Settings
from trustplane.core.errors import TrustplaneError

NO_CLASSIFIER = "none"
_BAND_RANK = {None: 0, "grey": 1, "prohibited": 2}
CHEAP_CLASSIFIERS = ("keyword", NO_CLASSIFIER)
FLAG_AT = 0.5
"""A gated category the classifier scores at least this high counts, even when it is not the top verdict."""


def severity(c: Classification) -> tuple[int, float]:
    return (_BAND_RANK.get(c.band, 0) if c.category != BENIGN else 0, c.score)


@dataclass(frozen=True)
class ReviewGrant:
    """An approved review: the principal may receive ``category`` up to ``band`` for this one request."""

    review_id: str
    category: str
    band: Band

    def covers(self, category: str, band: Band | None) -> bool:
        return category == self.category and _BAND_RANK.get(band, 0) <= _BAND_RANK[self.band]


class AccessEngine:
    """Taxonomy, classifier and policy, configured from :class:`Settings`."""

    def __init__(
        self,
        settings: Settings,
        *,
        taxonomy: Taxonomy | None = None,
        policy: PolicyEngine | None = None,
        classifier: RiskClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.taxonomy = taxonomy or load_taxonomy(settings.access_taxonomy)
        self.policy = policy or PolicyEngine.load(
            settings.access_policy,
            self.taxonomy,
            assurance_values=dict(settings.access_assurance_map),
            trusted_vc_issuers=tuple(settings.access_vc_issuers),
            oidc_issuer=settings.oidc_issuer,
        )
        self.classifier_name = classifier.name if classifier is not None else settings.access_classifier
        if self.classifier_name == "keyword" and self.taxonomy.longest_keyword > settings.access_holdback_chars:
            raise AccessConfigError(
                f"TRUSTPLANE_ACCESS_HOLDBACK_CHARS ({settings.access_holdback_chars}) is shorter than the "
                f"taxonomy's longest keyword ({self.taxonomy.longest_keyword} characters)",
                hint="raise the hold-back window: a keyword split across it could otherwise leak",
            )
        self._classifier = classifier
        self._lock = threading.Lock()

    @property
    def cheap(self) -> bool:
        """Whether classification is fast enough to run on the event loop."""
        return self.classifier_name in CHEAP_CLASSIFIERS

    @property
    def enabled(self) -> bool:
        return self.classifier_name != NO_CLASSIFIER

    def classifier(self) -> RiskClassifier:
        """The configured classifier, built on first use; failure to build fails closed (503)."""
        if self._classifier is not None:
            return self._classifier
        with self._lock:
            if self._classifier is None:
                options: dict[str, Any] = dict(self.settings.access_classifier_options)
                if self.classifier_name == "keyword" and "rules" not in options:
                    options["rules"] = self.taxonomy.keyword_rules()
                try:
                    self._classifier = get_classifier(self.classifier_name, **options)
                except TrustplaneError as exc:
                    raise ClassifierUnavailableError(
                        f"classifier {self.classifier_name!r} cannot be used: {exc.message}",
                        hint=exc.hint or "check TRUSTPLANE_ACCESS_CLASSIFIER and its options",
                    ) from None
                except Exception as exc:
                    raise ClassifierUnavailableError(
                        f"classifier {self.classifier_name!r} failed to load: {type(exc).__name__}: {exc}",
                        hint="check TRUSTPLANE_ACCESS_CLASSIFIER, its options, and that its extra is installed",
                    ) from None
            return self._classifier

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """Classify texts; unknown categories or a failing classifier fail closed (503)."""
        if not self.enabled:
            return [Classification(BENIGN, None, 1.0, {BENIGN: 1.0}) for _ in texts]
        try:
            out = self.classifier().classify(list(texts))
        except ClassifierUnavailableError:
            raise
        except TrustplaneError as exc:
            raise ClassifierUnavailableError(f"classifier {self.classifier_name!r} failed: {exc.message}") from None
        except Exception as exc:
            raise ClassifierUnavailableError(
                f"classifier {self.classifier_name!r} failed: {type(exc).__name__}: {exc}"
            ) from None
        if len(out) != len(texts):
            raise ClassifierUnavailableError(
                f"classifier {self.classifier_name!r} returned {len(out)} verdicts for {len(texts)} texts"
            )
        for c in out:
            if c.category != BENIGN and (c.category not in self.taxonomy.domains or c.band not in BANDS):
                raise ClassifierUnavailableError(
                    f"classifier {self.classifier_name!r} returned {c.category}/{c.band}, "
                    f"which is not in taxonomy {self.taxonomy.name!r}"
                )
        return out

    def classify_prompt(self, messages: Sequence[tuple[str, str]]) -> Classification:
        """The most severe verdict over each message and the whole conversation (``(role, content)`` pairs)."""
        texts = [content for _, content in messages if content.strip()]
        if len(texts) > 1:
            texts.append(" ".join(content for _, content in messages))
        if not texts:
            return Classification(BENIGN, None, 1.0, {BENIGN: 1.0})
        return max(self.classify(texts), key=severity)

    def decide(
        self, principal: Principal, c: Classification, stage: Stage, grant: ReviewGrant | None = None
    ) -> Decision:
        """The most restrictive decision over the verdict and every other category scored at ``FLAG_AT`` or more.

        A single-label verdict would otherwise hide a second category in the same text (an allowed
        category first, a forbidden one after it).
        """
        decisions = [self._decide_one(principal, c.category, c.band if c.category != BENIGN else None, stage, grant)]
        for label, score in c.scores.items():
            category, _, band = label.partition("/")
            known = band in BANDS and category in self.taxonomy.domains
            if known and score >= FLAG_AT and (category, band) != (c.category, c.band):
                decisions.append(self._decide_one(principal, category, band, stage, grant))  # type: ignore[arg-type]
        return most_severe(decisions)

    def _decide_one(
        self, principal: Principal, category: str, band: Band | None, stage: Stage, grant: ReviewGrant | None
    ) -> Decision:
        approved = grant is not None and grant.covers(category, band)
        return self.policy.decide(principal, category, band, stage, review_approved=approved)

    def judge(self, principal: Principal, grant: ReviewGrant | None = None) -> Callable[[str], Decision]:
        """The output-stage judge a :class:`StreamGuard` calls on each window."""

        def judge(window: str) -> Decision:
            return self.decide(principal, self.classify([window])[0], "output", grant)

        return judge

    def guard(self, principal: Principal, grant: ReviewGrant | None = None) -> StreamGuard:
        return StreamGuard(
            self.judge(principal, grant),
            window=self.settings.access_holdback_chars,
            step=self.settings.access_check_chars,
        )

    def filter_text(self, principal: Principal, text: str, grant: ReviewGrant | None = None) -> tuple[str, StreamGuard]:
        """Run a whole answer through the guard, in pieces of a quarter window, and return what is released.

        The guard's windows do not depend on its decisions (suppressed text stays in the context), so
        every window is known in advance: they are classified in one batch, then decided in order.
        """
        if not self.enabled:
            guard = self.guard(principal, grant)
            guard.stats.released_chars = len(text)
            return text, guard
        size = max(self.settings.access_check_chars, self.settings.access_holdback_chars // 4)
        pieces = [text[start : start + size] for start in range(0, len(text), size)]
        windows: list[str] = []
        allow = Decision("allow", BENIGN, None, "output", ())

        def record(window: str) -> Decision:
            windows.append(window)
            return allow

        dry = StreamGuard(record, window=self.settings.access_holdback_chars, step=self.settings.access_check_chars)
        for piece in pieces:
            dry.feed(piece)
        dry.finish()
        verdicts = iter(self.classify(windows)) if windows else iter(())

        def replay(window: str) -> Decision:
            return self.decide(principal, next(verdicts), "output", grant)

        guard = StreamGuard(replay, window=self.settings.access_holdback_chars, step=self.settings.access_check_chars)
        events: list[GuardEvent] = []
        for piece in pieces:
            events += guard.feed(piece)
            if guard.stopped:
                break
        events += guard.finish()
        return "".join(e.text for e in events), guard

    def check(
        self, principal: Principal, prompt: Sequence[tuple[str, str]], output: str | None = None
    ) -> dict[str, Any]:
        """Dry run: classify and decide a prompt (and optionally filter an answer) for ``principal``."""
        c = self.classify_prompt(prompt)
        decision = self.decide(principal, c, "prompt")
        report: dict[str, Any] = {
            "principal": principal.public(),
            "classifier": self.classifier_name,
            "policy": self.policy.version,
            "taxonomy": {"name": self.taxonomy.name, "sha256": self.taxonomy.sha256},
            "prompt": {
                "category": c.category,
                "band": c.band,
                "score": c.score,
                "scores": dict(c.scores),
                "decision": decision.as_json(),
            },
        }
        if output is not None:
            released, guard = self.filter_text(principal, output)
            worst = guard.stats.worst
            report["output"] = {
                "released": released,
                "redactions": guard.stats.redactions,
                "stopped": guard.stats.stopped.as_json() if guard.stats.stopped else None,
                "worst": worst.as_json() if worst else None,
                "checks": guard.stats.checks,
            }
        return report
