"""Run config classes derived from stage specs: one field per parameter, with the library's
default, so a default is written once (in the stage's constructor)."""

from typing import Any

import dagster as dg
import pydantic

from curation.spec import Parameter, StageSpec

_CONFIG_CLASSES: dict[tuple, type[dg.Config]] = {}


def _field(parameter: Parameter) -> tuple[Any, Any]:
    kind = list[str] if parameter.kind is list else parameter.kind
    annotation = kind | None if parameter.optional else kind
    default = parameter.json_default()
    if isinstance(default, list):
        return annotation, pydantic.Field(default_factory=lambda d=tuple(default): list(d), description=parameter.help)
    return annotation, pydantic.Field(default=default, description=parameter.help or None)


def config_class(spec: StageSpec) -> type[dg.Config]:
    """The run config of a spec's asset: one field per parameter, with the library's default
    (one class per stage name, shared by every source)."""
    cache_key = (spec.name, spec.parameters)
    if cache_key not in _CONFIG_CLASSES:
        name = "".join(part.title() for part in spec.name.split("_")) + "Config"
        _CONFIG_CLASSES[cache_key] = pydantic.create_model(
            name, __base__=dg.Config, **{p.name: _field(p) for p in spec.parameters})
    return _CONFIG_CLASSES[cache_key]


def config_values(config: dg.Config) -> dict[str, Any]:
    return dict(config)
