"""Journey definitions: YAML → validated, typed structs.

Validation runs in three passes so an author sees every problem at once, each with its
file, line and path (``behaviours[2].nudges[0].at``):

1. YAML syntax (safe loader; YAML 1.1 surprises such as ``10:00`` → 600 are switched off);
2. shape, against the JSON Schema generated from the structs below (the same schema editors
   get from ``slipguard journeys schema``): unknown keys, types, enums, ranges;
3. meaning: anchors, stages, schedules, nudges, reply keywords and templates.

A file with any error loads nothing. Warnings (e.g. an SMS longer than 3 segments) do not
block loading.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from core.errors import FieldError
from journeys import replies, templates
from journeys.durations import SyntaxProblem, parse_duration, parse_offset, parse_time
from journeys.errors import DefinitionInvalid
from journeys.sms import segments
from journeys.vocabulary import STAGES, Channel, Deficit, RootCause

KEY = r"^[a-z0-9][a-z0-9-]{0,63}$"
NAME = r"^[a-z_][a-z0-9_]{0,31}$"
Key = Annotated[str, msgspec.Meta(pattern=KEY, description="lowercase letters, digits and '-'")]
Name = Annotated[
    str, msgspec.Meta(pattern=NAME, description="lowercase identifier, e.g. appointment")
]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# One word in any script. The pattern (the same in Python and in editors' JavaScript)
# refuses spaces and ASCII punctuation; the meaning pass then checks each character is a
# letter or digit (``journeys.replies.is_word``), which no portable pattern can say.
Keyword = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\s!-/:-@\[-`{-~]{1,20}$",
        description="one word of 1-20 letters or digits, in any script (e.g. DONE, 好了)",
    ),
]

# Twilio and carriers act on these themselves; a journey may not claim them for confirmations.
RESERVED_KEYWORDS = {w.upper() for w in replies.RESERVED}
MAX_SMS_SEGMENTS = 3


class Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of definition structs: unknown keys are errors."""


class ConfirmRule(Strict, kw_only=True, frozen=True):
    """How a customer confirms a step, and how long after its due time before it is missed."""

    reply: list[Keyword] = []
    grace: str = "4h"


class FailureMode(Strict, kw_only=True, frozen=True):
    """A typical way this behaviour fails, with its cause and what helps."""

    key: Key
    title: str = ""
    deficit: Deficit = "other"
    root_cause: RootCause = "customer"
    guidance: Text = ""
    escalate: bool = False
    reply: list[Keyword] = []


class Nudge(Strict, kw_only=True, frozen=True):
    """A message relative to the step's due time (``due - 1d``, ``due``, ``due + 2h``)."""

    at: str
    channel: Channel
    template: Key
    unless: Literal["confirmed"] | None = None


class TaperPhase(Strict, kw_only=True, frozen=True, rename={"for_": "for"}):
    """One phase of a tapering schedule: every N for a period."""

    every: str
    for_: str


class Schedule(Strict, kw_only=True, frozen=True, rename={"for_": "for", "from_": "from"}):
    """When occurrences fall: exactly one of ``once``, ``every`` or ``taper``."""

    once: str | None = None
    every: str | None = None
    taper: list[TaperPhase] | None = None
    at: str | None = None
    from_: str | None = None
    for_: str | None = None


class Behaviour(Strict, kw_only=True, frozen=True):
    """Something the customer must do, how important it is, and how to help."""

    key: Key
    title: Title
    stage: str
    importance: Annotated[int, msgspec.Meta(ge=1, le=10)]
    instructions: Text = ""
    schedule: Schedule
    confirm: ConfirmRule | None = None
    failure_modes: list[FailureMode] = []
    nudges: list[Nudge] = []


class FollowUpSettings(Strict, kw_only=True, frozen=True):
    """How coaching follows up slips and missed steps of this journey (coaching.policy)."""

    escalate_after_misses: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=30,
            description="consecutive misses of a motivation-type behaviour before a staff task",
        ),
    ] = 3
    remind_before: str = "2h"  # the extra reminder before the next occurrence (forgetfulness)
    check_back: str = "3d"  # after a complaint's recovery message, when we check back


DEFAULT_FOLLOW_UP = FollowUpSettings()


class JourneyDefinition(Strict, kw_only=True, frozen=True):
    """A customer's role written down: behaviours, schedules, nudges and templates."""

    key: Key
    title: Title
    description: Text = ""
    stages: list[Name] = msgspec.field(default_factory=lambda: list(STAGES))
    anchors: Annotated[list[Name], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["start"]
    )
    locales: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["en"]
    )
    holdout: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.0
    behaviours: Annotated[list[Behaviour], msgspec.Meta(min_length=1)]
    templates: dict[Key, dict[str, Annotated[str, msgspec.Meta(min_length=1)]]] = {}
    # Unset (not None) when the author leaves it out: unset fields are not encoded, so
    # journeys written before it existed keep their canonical form and digest.
    follow_up: FollowUpSettings | msgspec.UnsetType = msgspec.UNSET

    def behaviour(self, key: str) -> Behaviour | None:
        """The behaviour with this key, if any."""
        return next((b for b in self.behaviours if b.key == key), None)

    def follow_up_settings(self) -> FollowUpSettings:
        """The journey's follow-up settings, defaults filled."""
        return (
            DEFAULT_FOLLOW_UP if isinstance(self.follow_up, msgspec.UnsetType) else self.follow_up
        )


@dataclass
class Validation:
    """What validating one source produced."""

    filename: str
    definition: JourneyDefinition | None = None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.definition is not None and not self.errors

    def lines(self) -> list[str]:
        """``file:line: path: message`` lines, errors first."""
        out = []
        for kind, items in (("error", self.errors), ("warning", self.warnings)):
            for e in items:
                where = f"{self.filename}:{e.line}" if e.line else self.filename
                out.append(f"{where}: {kind}: {e.field}: {e.message}")
        return out


# --- YAML with line numbers ----------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's sexagesimal numbers and timestamps (``10:00`` stays text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (
        "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp",
        "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}  # fmt: skip
# YAML 1.1 also reads yes/no/on/off as booleans (so `reply: [OK, NO]` breaks): only true/false.
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(0|[1-9][0-9]*)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$",
        "-+0123456789.",
    ),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _index_lines(
    node: yaml.Node, path: str, lines: dict[str, int], dupes: list[FieldError]
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                # YAML keeps only the last value of a repeated key; say so instead.
                dupes.append(
                    FieldError(
                        child,
                        f"duplicate key {key_node.value!r} (first on line {seen[key_node.value]});"
                        " the earlier value would be lost",
                        line,
                    )
                )
                continue
            seen[key_node.value] = line
            lines[child] = line
            _index_lines(value_node, child, lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            lines[child] = item.start_mark.line + 1
            _index_lines(item, child, lines, dupes)


# Bounds checked on the event stream, before any node is built or walked: a journey file is
# a few hundred nodes a handful of levels deep.
MAX_NODES = 20_000
MAX_DEPTH = 32


def _screen(source: str) -> FieldError | None:
    """The first thing in ``source`` that no journey needs and that could make reading it
    explode: an anchor or alias (a few hundred bytes of nested aliases expand to gigabytes),
    a mapping key that is not plain text, more than ``MAX_NODES`` values or ``MAX_DEPTH``
    levels. One linear pass over the parser's events, before any node is built; raises
    yaml.YAMLError for text that is not YAML."""
    nodes = 0
    # One entry per open collection: for a mapping, how many keys and values it has had
    # (even: a key comes next); for a sequence, None.
    open_: list[int | None] = []
    for event in yaml.parse(source, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            return FieldError(
                "yaml",
                "anchors (&name) and aliases (*name) are not accepted in journey files; "
                "write the value out where it is needed",
                line,
            )
        if isinstance(event, yaml.CollectionEndEvent):
            open_.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            return FieldError("yaml", f"more than {MAX_NODES:,} values: not a journey file", line)
        is_key = False
        if open_ and open_[-1] is not None:
            is_key = open_[-1] % 2 == 0
            open_[-1] += 1
        if isinstance(event, yaml.CollectionStartEvent):
            if is_key:
                return FieldError(
                    "yaml",
                    "not valid YAML: a key must be plain text, not a list or a mapping "
                    "(a value starting with {{, [, { or : needs quotes)",
                    line,
                )
            if len(open_) >= MAX_DEPTH:
                return FieldError("yaml", f"nested more than {MAX_DEPTH} levels deep", line)
            open_.append(0 if isinstance(event, yaml.MappingStartEvent) else None)
    return None


def _parse_yaml(source: str) -> tuple[Any, dict[str, int], list[FieldError]]:
    loader = _Loader(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        lines: dict[str, int] = {}
        dupes: list[FieldError] = []
        _index_lines(node, "", lines, dupes)
        return loader.construct_document(node), lines, dupes
    finally:
        loader.dispose()


# --- shape: JSON Schema --------------------------------------------------------------------


@lru_cache(maxsize=1)
def json_schema() -> dict[str, Any]:
    """The JSON Schema of journey files (for editors and for the shape check)."""
    schema = msgspec.json.schema(JourneyDefinition)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Slipguard journey"
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json_schema())


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_keys(err: SchemaError) -> list[tuple[str, str]]:
    """One message per unknown key of a mapping (not only the first)."""
    path = _path(err.absolute_path)
    allowed = set(err.schema.get("properties", {}))
    out = []
    for name in sorted(k for k in err.instance if k not in allowed):
        field_path = f"{path}.{name}" if path else name
        listing = ", ".join(sorted(allowed))
        out.append(
            (field_path, f"unknown key {name!r}{_suggest(name, allowed)}; allowed: {listing}")
        )
    return out


def _schema_message(err: SchemaError) -> tuple[str, str]:
    """A readable (path, message) for one JSON-Schema error."""
    path = _path(err.absolute_path)
    if err.validator == "required":
        missing = str(err.message).split("'")[1] if "'" in str(err.message) else "?"
        field_path = f"{path}.{missing}" if path else missing
        return field_path, f"missing required key {missing!r}"
    if err.validator == "enum":
        choices = ", ".join(map(str, err.validator_value))
        return (
            path,
            f"{err.instance!r} is not allowed{_suggest(err.instance, err.validator_value)};"
            f" choose one of {choices}",
        )
    if err.validator == "type":
        expected = err.validator_value
        return (
            path,
            f"expected {expected if isinstance(expected, str) else ' or '.join(expected)},"
            f" got {type(err.instance).__name__} {err.instance!r}",
        )
    if err.validator == "pattern":
        description = err.schema.get("description", f"must match {err.validator_value}")
        return path, f"{err.instance!r} is not valid: {description}"
    if err.validator in ("minimum", "maximum"):
        return (
            path,
            f"{err.instance!r} is out of range (minimum {err.schema.get('minimum')},"
            f" maximum {err.schema.get('maximum')})",
        )
    if err.validator == "minItems":
        return path, f"needs at least {err.validator_value} item(s)"
    return path, str(err.message)


def _shape_errors(data: Any) -> list[tuple[str, str]]:
    found = []
    for err in _validator().iter_errors(data):
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            found += _unknown_keys(err)
        elif err.validator in ("anyOf", "oneOf") and err.context:
            # Report the branch that got furthest, not "is not valid under any schema".
            best = max(err.context, key=lambda e: len(list(e.absolute_path)))
            found.append(_schema_message(best))
        else:
            found.append(_schema_message(err))
    return sorted(set(found))


# --- meaning -------------------------------------------------------------------------------


class _Checker:
    """Semantic checks over a shape-valid definition; collects every problem."""

    def __init__(self, d: JourneyDefinition) -> None:
        self.d = d
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def run(self) -> None:
        d = self.d
        self._unique("anchors", d.anchors)
        self._unique("stages", d.stages)
        self._unique("locales", d.locales)
        for i, locale in enumerate(d.locales):
            if not re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", locale):
                self.error(
                    f"locales[{i}]", f"{locale!r} is not a locale tag such as en, en-GB or zh-CN"
                )
        self._unique("behaviours", [b.key for b in d.behaviours], suffix=".key")
        used_templates: dict[str, list[tuple[str, str]]] = {}
        journey_words: list[tuple[str, str]] = []
        for i, b in enumerate(d.behaviours):
            here = f"behaviours[{i}]"
            if b.stage not in d.stages:
                self.error(
                    f"{here}.stage",
                    f"unknown stage {b.stage!r}{_suggest(b.stage, d.stages)};"
                    f" stages: {', '.join(d.stages)}",
                )
            self._schedule(f"{here}.schedule", b.schedule)
            keywords: list[tuple[str, str]] = []
            if b.confirm is not None:
                self._duration(f"{here}.confirm.grace", b.confirm.grace, allow_zero=True)
                keywords += [
                    (f"{here}.confirm.reply[{j}]", k) for j, k in enumerate(b.confirm.reply)
                ]
            self._unique(f"{here}.failure_modes", [f.key for f in b.failure_modes], suffix=".key")
            for j, mode in enumerate(b.failure_modes):
                keywords += [
                    (f"{here}.failure_modes[{j}].reply[{k}]", w) for k, w in enumerate(mode.reply)
                ]
            journey_words += keywords
            for j, nudge in enumerate(b.nudges):
                where = f"{here}.nudges[{j}]"
                self._nudge_offset(f"{where}.at", nudge.at)
                if nudge.unless == "confirmed" and b.confirm is None:
                    self.error(
                        f"{where}.unless",
                        "'unless: confirmed' needs the behaviour to have a 'confirm' rule",
                    )
                if nudge.template not in d.templates:
                    self.error(
                        f"{where}.template",
                        f"unknown template {nudge.template!r}"
                        + _suggest(nudge.template, d.templates),
                    )
                else:
                    used_templates.setdefault(nudge.template, []).append((where, nudge.channel))
        self._keywords(journey_words)
        self._templates(used_templates)
        if not isinstance(d.follow_up, msgspec.UnsetType):
            self._duration("follow_up.remind_before", d.follow_up.remind_before)
            self._duration("follow_up.check_back", d.follow_up.check_back)

    def _unique(self, path: str, values: list[str], suffix: str = "") -> None:
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                self.error(f"{path}[{i}]{suffix}", f"duplicate {value!r}")
            seen.add(value)

    def _duration(self, path: str, text: str, allow_zero: bool = False) -> Any:
        try:
            return parse_duration(text, allow_zero=allow_zero)
        except SyntaxProblem as exc:
            self.error(path, str(exc))
            return None

    def _anchor(self, path: str, name: str) -> None:
        if name not in self.d.anchors:
            self.error(
                path,
                f"unknown anchor {name!r}{_suggest(name, self.d.anchors)};"
                f" anchors: {', '.join(self.d.anchors)}",
            )

    def _schedule(self, path: str, s: Schedule) -> None:
        forms = [
            name
            for name, value in (("once", s.once), ("every", s.every), ("taper", s.taper))
            if value is not None
        ]
        if len(forms) != 1:
            self.error(
                path,
                "give exactly one of 'once', 'every' or 'taper'"
                + (f" (found {', '.join(forms)})" if forms else ""),
            )
            return
        at = None
        if s.at is not None:
            try:
                at = parse_time(s.at)
            except SyntaxProblem as exc:
                self.error(f"{path}.at", str(exc))
        if s.once is not None:
            for key in ("from_", "for_"):
                if getattr(s, key) is not None:
                    self.error(
                        f"{path}.{key.rstrip('_')}",
                        "not used with 'once' (write the anchor in 'once')",
                    )
            try:
                offset = parse_offset(s.once)
                self._anchor(f"{path}.once", offset.anchor)
            except SyntaxProblem as exc:
                self.error(f"{path}.once", str(exc))
            return
        if s.from_ is None:
            self.error(
                f"{path}.from", "missing: which anchor the schedule starts from, e.g. 'from: start'"
            )
        else:
            self._anchor(f"{path}.from", s.from_)
        periods: list[tuple[str, str, str | None]] = []
        if s.every is not None:
            if s.for_ is None:
                self.error(
                    f"{path}.for", "missing: a recurring schedule needs an end, e.g. 'for: 84d'"
                )
            periods.append((f"{path}.every", s.every, s.for_))
            if s.for_ is not None:
                self._duration(f"{path}.for", s.for_)
        else:
            if s.for_ is not None:
                self.error(f"{path}.for", "not used with 'taper' (each phase has its own 'for')")
            if not s.taper:
                self.error(f"{path}.taper", "needs at least one phase")
            for i, phase in enumerate(s.taper or []):
                periods.append((f"{path}.taper[{i}].every", phase.every, phase.for_))
                self._duration(f"{path}.taper[{i}].for", phase.for_)
        for where, every, _ in periods:
            step = self._duration(where, every)
            if step is not None and at is not None and step.calendar_days is None:
                self.error(
                    where,
                    "with 'at' the interval must be whole days or weeks"
                    f" (e.g. 1d, 2d, 1w), not {every!r}",
                )

    def _nudge_offset(self, path: str, text: str) -> None:
        try:
            offset = parse_offset(text)
        except SyntaxProblem as exc:
            self.error(path, str(exc).replace("NAME", "due"))
            return
        if offset.anchor != "due":
            self.error(
                path,
                "nudges are timed from the step: write 'due', 'due - 1d' or 'due + 2h',"
                f" not {offset.anchor!r}{_suggest(offset.anchor, ['due'])}",
            )

    def _keywords(self, keywords: list[tuple[str, str]]) -> None:
        """Reply words: letters or digits, not carrier keywords, and unique in the whole
        journey after normalisation (``ok``, ``OK`` and a full-width OK are one word),
        so a reply points at exactly one behaviour."""
        seen: dict[str, str] = {}
        for path, word in keywords:
            same = replies.normalize(word)
            if word.isdecimal():
                self.error(path, f"{word!r}: digits alone are kept for numbered answers")
            elif not replies.is_word(word):
                self.error(path, f"{word!r} is not one word of letters or digits")
            elif replies.is_reserved(word):
                self.error(
                    path,
                    f"{word!r} is an opt-out/help keyword carriers handle themselves;"
                    " choose another word",
                )
            elif same in seen:
                self.error(path, f"{word!r} is already used at {seen[same]}")
            seen.setdefault(same, path)

    def _templates(self, used: dict[str, list[tuple[str, str]]]) -> None:
        d = self.d
        allowed = templates.allowed_variables(d.anchors)
        for key, by_locale in d.templates.items():
            base = f"templates.{key}"
            if key not in used:
                self.warnings.append((base, "defined but not used by any nudge"))
            for locale in d.locales:
                if locale not in by_locale:
                    self.error(
                        base,
                        f"missing locale {locale!r}"
                        f" (the journey declares locales {', '.join(d.locales)})",
                    )
            for locale, text in by_locale.items():
                path = f"{base}.{locale}"
                if locale not in d.locales:
                    self.error(
                        path, f"locale {locale!r} is not in 'locales' ({', '.join(d.locales)})"
                    )
                try:
                    names = templates.undeclared(text)
                except templates.TemplateSyntaxError as exc:
                    self.error(path, f"template syntax error: {exc.message}")
                    continue
                unknown = sorted(names - set(allowed))
                for name in unknown:
                    self.error(
                        path,
                        f"unknown variable {name!r}{_suggest(name, allowed)};"
                        f" available: {', '.join(sorted(allowed))}",
                    )
                if unknown:
                    continue
                # Every template is rendered once with sample values, whatever its channel,
                # so a runtime error (``{{ due_date.day }}``) shows now, not at send time.
                try:
                    body = templates.render(text, allowed)
                except Exception as exc:
                    self.error(path, f"cannot render with sample values: {exc}")
                    continue
                if any(channel == "sms" for _, channel in used.get(key, [])):
                    count = segments(body)
                    if count > MAX_SMS_SEGMENTS:
                        self.warnings.append(
                            (
                                path,
                                f"renders to {count} SMS segments with sample values"
                                f" (over {MAX_SMS_SEGMENTS}: costly and often split badly)",
                            )
                        )


# --- entry points --------------------------------------------------------------------------


def _yaml_error(exc: yaml.YAMLError) -> FieldError:
    """A YAML error located where the broken construct *starts* (an unclosed quote or
    bracket is reported by the parser only where it gave up, often lines later)."""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    start = getattr(exc, "context_mark", None)
    stop = getattr(exc, "problem_mark", None)
    if start is not None and stop is not None and start.line != stop.line:
        what = (
            (context or "a construct")
            .removeprefix("while scanning ")
            .removeprefix("while parsing ")
        )
        message = (
            f"not valid YAML: {what} started here is not closed ({problem} on line {stop.line + 1})"
        )
        return FieldError("yaml", message, start.line + 1)
    mark = stop or start
    hint = ""
    if "found character '\\t'" in problem or "\\t" in problem:
        hint = "; indent with spaces, not tabs"
    elif "expected <block end>" in problem:
        hint = "; a value starting with {{, [, { or : needs quotes"
    return FieldError("yaml", f"not valid YAML: {problem}{hint}", mark.line + 1 if mark else None)


def validate_source(source: str, filename: str = "<upload>") -> Validation:
    """Validate a YAML source; never raises for bad input (see ``Validation.errors``)."""
    result = Validation(filename)
    try:
        refused = _screen(source)
        if refused is not None:
            result.errors.append(refused)
            return result
        data, lines, dupes = _parse_yaml(source)
    except yaml.YAMLError as exc:
        result.errors.append(_yaml_error(exc))
        return result
    if dupes:
        result.errors = dupes
        return result
    if not isinstance(data, dict):
        result.errors.append(
            FieldError("(top)", "a journey file is a mapping with key, title, behaviours, …", 1)
        )
        return result

    def line_of(path: str) -> int | None:
        # The line of the path, or of its nearest ancestor present in the file (a missing
        # key is reported on the line of the mapping that should hold it).
        while path:
            if path in lines:
                return lines[path]
            parent = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
            if parent == path:
                break
            path = parent
        return lines.get("", 1)

    shape = _shape_errors(data)
    if shape:
        result.errors = [FieldError(p or "(top)", m, line_of(p)) for p, m in shape]
        return result
    definition = msgspec.convert(data, JourneyDefinition)
    checker = _Checker(definition)
    checker.run()
    fix = {"from_": "from", "for_": "for"}

    def clean(p: str) -> str:
        for k, v in fix.items():
            p = p.replace(f".{k}", f".{v}")
        return p

    result.errors = [FieldError(clean(p), m, line_of(clean(p))) for p, m in checker.errors]
    result.warnings = [FieldError(clean(p), m, line_of(clean(p))) for p, m in checker.warnings]
    if not result.errors:
        result.definition = definition
    return result


def load_definition(
    source: str, filename: str = "<upload>"
) -> tuple[JourneyDefinition, Validation]:
    """Validate and return the definition, or raise DefinitionInvalid listing every error."""
    result = validate_source(source, filename)
    if not result.ok or result.definition is None:
        count = len(result.errors)
        raise DefinitionInvalid(
            f"{filename}: {count} error{'s' if count != 1 else ''}; nothing was loaded",
            result.errors,
            source,
        )
    return result.definition, result


def canonical(definition: JourneyDefinition) -> bytes:
    """Canonical JSON (sorted keys, defaults filled): equal definitions, equal bytes."""
    return msgspec.json.encode(definition, order="sorted")


def digest(definition: JourneyDefinition) -> str:
    """SHA-256 of the canonical form; an unchanged definition creates no new version."""
    return hashlib.sha256(canonical(definition)).hexdigest()


def from_canonical(data: str | bytes) -> JourneyDefinition:
    """Decode a stored canonical definition."""
    return msgspec.json.decode(data, type=JourneyDefinition)
