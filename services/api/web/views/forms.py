"""The engagement definition's form: what the owner typed, as the next version to store.

The form edits the thresholds, weights, high-intent pages, intent threshold and k; the intent
rules carry over from the current version (they are edited through the API). Validation is
the API's own (DefinitionIn): the form only converts units (seconds on screen, milliseconds
stored) and names each refused field in a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from services.api.engagement.schemas import Definition, DefinitionIn, ScoreWeights

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
