"""A declarative spec per stage: everything the Dagster layer and the CLI need to know about a
stage, in one place (`curation/catalog.py` lists them).

A spec names the stage (its asset name, CLI subcommand and the rejects' `stage` column), how
to build the library stage, its parameters, the upstream it is fed by, what the UI previews and
plots, which checks apply, and a version. Parameters are read from the stage's own constructor
signature, so a threshold's default is written once, beside the code that applies it (as
datatrove's filters keep theirs), and run config, CLI flags and `code_version` derive from it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import types
import typing
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from curation.stage import DocumentStage

# What a kept document carries for every later stage (the schema check's default).
DOCUMENT_COLUMNS = ("id", "text", "source", "snapshot")
DEFAULT_PREVIEW = ("id", "url", "language", "language_score", "text")
SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class Parameter:
    """One configurable value of a stage: `kind` is bool, int, float, str or list (of str)."""

    name: str
    kind: type
    default: Any
    optional: bool = False  # None is allowed (and may be the default)
    help: str = ""

    def json_default(self) -> Any:
        return list(self.default) if isinstance(self.default, (tuple, list)) else self.default


def _kind(annotation: Any, where: str) -> tuple[type, bool]:
    """(scalar type or list, optional) of an annotation such as `float`, `str | None`,
    `Sequence[str]`, `Iterable[str] | None`."""
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise TypeError(f"{where}: a parameter must have one type, not {annotation}")
        annotation = members[0]
    if annotation in SCALARS:
        return annotation, optional
    origin = typing.get_origin(annotation)
    if origin is not None and getattr(origin, "__name__", "") in ("list", "tuple", "Sequence", "Iterable") \
            and typing.get_args(annotation)[:1] == (str,):
        return list, optional
    raise TypeError(f"{where}: unsupported parameter type {annotation} (bool, int, float, str or a list of str)")


def parameters_of(*callables: Callable, exclude: Sequence[str] = (), help: Mapping[str, str] | None = None
                  ) -> tuple[Parameter, ...]:
    """The keyword parameters of `callables` (classes or functions), in order, with their
    defaults and types; a name must not appear twice (one flat namespace per stage)."""
    found: dict[str, Parameter] = {}
    for target in callables:
        function = target.__init__ if inspect.isclass(target) else target
        hints = typing.get_type_hints(function)
        for name, parameter in inspect.signature(target).parameters.items():
            if name in exclude or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if parameter.default is inspect.Parameter.empty:
                raise TypeError(f"{target.__qualname__}.{name}: a stage parameter needs a default")
            if name in found:
                raise TypeError(f"parameter {name!r} appears twice ({target.__qualname__})")
            kind, optional = _kind(hints.get(name), f"{target.__qualname__}.{name}")
            found[name] = Parameter(name, kind, parameter.default, optional or parameter.default is None,
                                    (help or {}).get(name, ""))
    return tuple(found.values())


@dataclass(frozen=True)
class ScoreColumn:
    """A score plotted kept-against-rejected: a column of the kept documents and a key of the
    rejects' details (`details_key` where the two names differ)."""

    name: str
    log_scale: bool = False
    details_key: str | None = None


# build(parameter values, model folders by name) -> the stage
StageBuilder = Callable[[dict[str, Any], Mapping[str, str]], DocumentStage]


@dataclass(frozen=True)
class StageSpec:
    """One stage of a source's chain (or a source asset, with `kind="source"`).

    kind: "document" (a DocumentStage over batches: one asset factory, one CLI adapter),
    "dedup" (its own runner over the whole partition) or "source" (reads raw inputs).
    fed_by: the stage whose kept documents are exactly this one's input; None for the first
    stage of a chain, which is fed by the source's documents asset.
    """

    name: str
    description: str
    kind: str = "document"
    version: str = "1"
    fed_by: str | None = None
    build: StageBuilder | None = None
    parameters: tuple[Parameter, ...] = ()
    models: tuple[str, ...] = ()  # model folders the stage loads: the model assets are upstream of it
    preview: tuple[str, ...] = DEFAULT_PREVIEW
    scores: tuple[ScoreColumn, ...] = ()
    required_columns: tuple[str, ...] = DOCUMENT_COLUMNS
    checks: frozenset[str] = frozenset()  # extra checks: "language_purity", "persona_marginals"
    rate: str = "drop"  # the rate check: drop_rate_vs_previous or duplicate_rate_vs_previous
    extra_metadata: Callable[[Counter], dict] | None = None  # BatchStats.extra -> metadata
    cli_aliases: tuple[str, ...] = ()
    cli_help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # anything a runner of this kind needs

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.json_default() for p in self.parameters}

    def code_version(self) -> str:
        """The stage's own version plus a hash of its defaults: a changed threshold in code
        gives a new code_version, so Dagster marks the partitions built with the old one stale."""
        digest = hashlib.sha256(json.dumps(self.defaults(), sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.version}-{digest[:10]}"

    def values(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by `given` (unknown names are an error)."""
        given = dict(given or {})
        unknown = set(given) - {p.name for p in self.parameters}
        if unknown:
            raise ValueError(f"{self.name}: unknown parameters {sorted(unknown)}")
        return {**self.defaults(), **given}

    def stage(self, given: Mapping[str, Any] | None = None, models: Mapping[str, str] | None = None) -> DocumentStage:
        if self.build is None:
            raise TypeError(f"{self.name} is a {self.kind} stage, not a per-document one")
        missing = set(self.models) - set(models or {})
        if missing:
            raise ValueError(f"{self.name}: needs model folders {sorted(missing)}")
        return self.build(self.values(given), dict(models or {}))

    def metadata(self, extra: Counter) -> dict:
        return self.extra_metadata(extra) if self.extra_metadata is not None else {}


def from_class(stage_class: type[DocumentStage], **values: Any) -> DocumentStage:
    """The default builder: the stage class called with the parameter values."""
    return stage_class(**values)
