"""The engagement definition's form: what the owner typed, as the next version to store.

The form edits the thresholds, weights, high-intent pages, intent threshold and k; the intent
rules carry over from the current version. The intent rule form adds, changes or removes one
rule, each change a new version too. Validation is the API's own (DefinitionIn, IntentRule):
the forms only convert units (seconds on screen, milliseconds stored) and name each refused
field in a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.api.engagement.schemas import Definition, DefinitionIn, IntentRule, ScoreWeights

WEIGHTS = tuple(name for name in ScoreWeights.model_fields)
NUMBERS = (
    "engaged_min_s",
    "engaged_min_pageviews",
    "engaged_min_goals",
    "intent_threshold",
    "k",
    *(f"weight_{name}" for name in WEIGHTS),
)
MAX_PAGES_TEXT = 20_000


class DefinitionFormError(ValueError):
    """Fields the definition refuses: {form field: what is wrong, in a sentence}."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def form_fields(definition: Definition) -> dict[str, str]:
    """A stored version as the form shows it."""
    fields = {
        "engaged_min_s": _number(definition.engaged_min_ms / 1000),
        "engaged_min_pageviews": str(definition.engaged_min_pageviews),
        "engaged_min_goals": str(definition.engaged_min_goals),
        "intent_threshold": _number(definition.intent_threshold),
        "k": str(definition.k),
        "high_intent_pages": "\n".join(definition.high_intent_pages),
    }
    for name in WEIGHTS:
        fields[f"weight_{name}"] = _number(getattr(definition.weights, name))
    return fields


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


# The stored field a form field becomes, for naming a refused one.
FORM_NAME = {
    "engaged_min_ms": "engaged_min_s",
    "engaged_min_pageviews": "engaged_min_pageviews",
    "engaged_min_goals": "engaged_min_goals",
    "intent_threshold": "intent_threshold",
    "k": "k",
    "high_intent_pages": "high_intent_pages",
    "weights": "weight_cap",
}


def definition_from_form(fields: Mapping[str, str], current: Definition) -> DefinitionIn:
    """The next version: the form's fields over the current version's intent rules."""
    problems: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for name in NUMBERS:
        value = _parse_number(fields.get(name, ""))
        if value is None:
            problems[name] = "Enter a number."
        else:
            numbers[name] = value
    for name in ("engaged_min_pageviews", "engaged_min_goals", "k"):
        if name in numbers and not numbers[name].is_integer():
            problems[name] = "Enter a whole number."
    pages_text = fields.get("high_intent_pages", "")[:MAX_PAGES_TEXT]
    pages = tuple(line.strip() for line in pages_text.splitlines() if line.strip())
    if problems:
        raise DefinitionFormError(problems)
    try:
        return DefinitionIn(
            engaged_min_ms=round(numbers["engaged_min_s"] * 1000),
            engaged_min_pageviews=int(numbers["engaged_min_pageviews"]),
            engaged_min_goals=int(numbers["engaged_min_goals"]),
            weights=ScoreWeights(**{name: numbers[f"weight_{name}"] for name in WEIGHTS}),
            high_intent_pages=pages,
            intent_rules=current.intent_rules,
            intent_threshold=numbers["intent_threshold"],
            k=int(numbers["k"]),
        )
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            if loc and loc[0] == "weights" and len(loc) > 1:
                field = f"weight_{loc[1]}"
            elif loc and loc[0] in WEIGHTS:  # ScoreWeights raised on its own
                field = f"weight_{loc[0]}"
            else:
                field = FORM_NAME.get(loc[0] if loc else "", "high_intent_pages")
            problems.setdefault(field, _sentence(error["msg"]))
        raise DefinitionFormError(problems) from None


def _sentence(message: str) -> str:
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


# --- intent rules ------------------------------------------------------------------------------

RULE: TypeAdapter[IntentRule] = TypeAdapter(IntentRule)
MAX_RULES = 20  # DefinitionIn's intent_rules
# Each kind of rule, in words, and the form fields it reads.
RULE_KINDS = {
    "page_repeat": ("Pages viewed again", ("pattern", "min_visits", "within_days")),
    "engaged_on_page": ("Time engaged on pages", ("pattern", "min_engaged_s")),
    "repeat_sessions": ("Returning visits", ("min_sessions", "within_days")),
    "goal": ("A goal reached", ("goal", "min_count")),
}
RULE_WHOLE_NUMBERS = ("min_visits", "within_days", "min_sessions", "min_count")


def rule_fields(rule: IntentRule) -> dict[str, str]:
    """A stored rule as its form shows it (engaged time in seconds)."""
    stored = rule.model_dump(exclude_none=True)
    fields = {name: str(value) for name, value in stored.items() if name != "min_engaged_ms"}
    if "min_engaged_ms" in stored:
        fields["min_engaged_s"] = _number(stored["min_engaged_ms"] / 1000)
    return fields


def rule_words(rule: IntentRule) -> str:
    """What a rule asks of a contact, in a sentence."""
    fields = rule_fields(rule)
    pages = f"pages matching {fields['pattern']}" if "pattern" in fields else "high-intent pages"
    if rule.kind == "page_repeat":
        return f"{pages} viewed {fields['min_visits']} times within {fields['within_days']} days"
    if rule.kind == "engaged_on_page":
        return f"{fields['min_engaged_s']} s engaged on {pages} in one session"
    if rule.kind == "repeat_sessions":
        return f"{fields['min_sessions']} sessions within {fields['within_days']} days"
    return f"the goal {fields['goal']} reached {fields['min_count']} times"


def rule_from_form(fields: Mapping[str, str], others: tuple[IntentRule, ...]) -> IntentRule:
    """The rule the form describes, checked as the API checks it, its name not one of
    `others`' (the definition's other rules)."""
    kind = fields.get("kind", "")
    if kind not in RULE_KINDS:
        raise DefinitionFormError({"kind": "Choose what the rule looks for."})
    body: dict[str, Any] = {"kind": kind, "name": fields.get("name", "").strip()[:200]}
    problems: dict[str, str] = {}
    for name in RULE_KINDS[kind][1]:
        text = fields.get(name, "").strip()[:300]
        if not text:
            if name != "pattern":  # an empty pattern: the high-intent pages
                problems[name] = "Fill this in for this kind of rule."
            continue
        if name in ("pattern", "goal"):
            body[name] = text
            continue
        value = _parse_number(text)
        if value is None or (name in RULE_WHOLE_NUMBERS and not value.is_integer()):
            problems[name] = "Enter a whole number." if value is not None else "Enter a number."
        elif name == "min_engaged_s":
            body["min_engaged_ms"] = round(value * 1000)
        else:
            body[name] = int(value)
    if kind == "page_repeat" and "pattern" not in body and "pattern" not in problems:
        problems["pattern"] = "Give the pages, a path glob such as /pricing*."
    if body["name"] in {rule.name for rule in others}:
        problems["name"] = "Another rule has this name: choose another."
    try:
        rule = RULE.validate_python(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            field = loc[1] if len(loc) > 1 else "kind"
            field = "min_engaged_s" if field == "min_engaged_ms" else field
            problems.setdefault(field, _sentence(error["msg"]))
    if problems:
        raise DefinitionFormError(problems)
    return rule


def with_rules(current: Definition, rules: tuple[IntentRule, ...]) -> DefinitionIn:
    """The next version: the current one with these intent rules."""
    kept = current.model_dump(include=set(DefinitionIn.model_fields))
    return DefinitionIn.model_validate({**kept, "intent_rules": rules})
