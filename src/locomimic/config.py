"""Loading and schema validation of the workflow config and the robot registry files.

The JSON schemas live in ``workflow/schemas/`` so Snakemake and the package check the same rules.
Validation fills in schema defaults and reports the first problem as one line naming the file and
the field (``config/config.yaml: clips.trot.gait.speed: -1 is less than the minimum of 0``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from locomimic.errors import LocomimicError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; syntax errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LocomimicError(path, "file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise LocomimicError(path, f"invalid YAML: {getattr(exc, 'problem', exc)}", location=where) from None


def _with_defaults(validator_class):
    """A validator that also fills in ``default`` values (the recipe from the jsonschema FAQ)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def field_path(parts) -> str:
    """``['clips', 'trot', 'frames', 0]`` -> ``clips.trot.frames[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def field_source(layers: list[tuple[str, Any]], field: list) -> str:
    """The config file(s) a field's value came from, for error messages.

    ``layers`` are the (name, contents) Snakemake merged, in order (``--configfile A B``, then
    ``--config``). A value that is not a mapping is replaced whole by a later layer (lists too), so it
    came from the last layer that sets it; a mapping gathers keys from every layer that sets it, so
    all of them are named (all layers when none sets it, e.g. a required field missing everywhere).
    """

    def sets(data: Any) -> bool:
        for part in field:
            if not isinstance(data, dict):  # inside a list or value, which one layer set whole
                return True
            if part not in data:
                return False
            data = data[part]
        return True

    setting = [(name, data) for name, data in layers if sets(data)]
    if not setting:
        return ", ".join(name for name, _ in layers)
    value = setting[-1][1]
    for part in field:
        value = value[part] if isinstance(value, dict) else None
    named = setting if isinstance(value, dict) else setting[-1:]
    return ", ".join(name for name, _ in named)


def _error_field(error: jsonschema.ValidationError) -> list:
    """The field an error is about; an unexpected key (a typo) is the field, not the mapping holding it."""
    field = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        extra = [key for key in error.instance if key not in error.schema.get("properties", {})]
        field += extra[:1]
    return field


def validate(data: Any, schema_name: str, source: str | Path, sections: tuple[str, ...] | None = None,
             layers: list[tuple[str, Any]] | None = None) -> Any:
    """Validate ``data`` against ``workflow/schemas/<schema_name>``; return it with defaults filled.

    With ``sections``, only those top-level fields are checked (and filled): what a single stage
    receives from the workflow. With ``layers`` (the config files ``data`` was merged from, see
    :func:`field_source`), an error names the file the bad value came from instead of ``source``.
    """
    schema = load_yaml(SCHEMA_DIR / schema_name)
    if sections is not None:
        schema = {**schema, "required": [], "properties": {k: schema["properties"][k] for k in sections}}
    if data is None:
        data = {}
    errors = sorted(_Validator(schema).iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        # A oneOf/anyOf failure is clearer through its most specific sub-error.
        while error.context:
            error = jsonschema.exceptions.best_match(error.context)
        if layers:
            source = field_source(layers, _error_field(error))
        message = error.message
        if error.validator == "type" and error.schema.get("properties"):  # say what the mapping holds
            message += f"; expected a mapping with keys {', '.join(error.schema['properties'])}"
        raise LocomimicError(source, message, location=field_path(error.absolute_path))
    return data


def _rule_error(source: str | Path, layers, field: list, message: str) -> LocomimicError:
    """A broken rule, naming the config file that set ``field`` (as :func:`validate` does)."""
    return LocomimicError(field_source(layers, field) if layers else source, message, location=field_path(field))


def check_rules(config: dict, source: str | Path, layers: list[tuple[str, Any]] | None = None) -> None:
    """Rules across fields that a JSON schema cannot express, checked for the sections ``config`` holds.

    Why here: these mistakes would otherwise surface as an assert inside brax or a ValueError after the
    environment is built, minutes into a job; the workflow checks them before any job starts.
    """
    ppo = config.get("train", {}).get("ppo")
    if ppo and "batch_size" in ppo:
        samples = ppo["batch_size"] * ppo["num_minibatches"]
        if samples % ppo["num_envs"]:
            raise _rule_error(source, layers, ["train", "ppo", "batch_size"],
                              f"batch_size * num_minibatches ({ppo['batch_size']} * {ppo['num_minibatches']} = "
                              f"{samples}) must be a multiple of num_envs ({ppo['num_envs']}): each training "
                              "iteration collects whole rollouts of every environment")
    locomotion = config.get("env", {}).get("locomotion")
    if locomotion and (locomotion.get("command_low") is None) != (locomotion.get("command_high") is None):
        given, other = ("command_low", "command_high") if locomotion.get("command_low") is not None else \
            ("command_high", "command_low")
        raise _rule_error(source, layers, ["env", "locomotion", given],
                          f"is set but {other} is not: set both, or neither for the motion's own commands")
    if locomotion and locomotion.get("command_low") is not None:
        for axis, (low, high) in enumerate(zip(locomotion["command_low"], locomotion["command_high"])):
            if low > high:
                name = ("forward", "lateral", "yaw")[axis]
                raise _rule_error(source, layers, ["env", "locomotion", "command_low", axis],
                                  f"{low} is above command_high[{axis}] = {high} ({name} command range)")


def validate_config(data: Any, source: str | Path, sections: tuple[str, ...] | None = None,
                    layers: list[tuple[str, Any]] | None = None) -> dict:
    """Validate (sections of) a workflow config: its schema, then :func:`check_rules`; defaults filled."""
    data = validate(data, "config.schema.yaml", source, sections, layers)
    check_rules(data, source, layers)
    return data


def load_config(path: str | Path) -> dict:
    """Read and validate a workflow config file."""
    return validate_config(load_yaml(path), path)


def robots_dir(config: dict, root: Path = REPO_ROOT) -> Path:
    """The folder of robot YAML files named by the config."""
    folder = Path(config.get("robots_dir", "config/robots"))
    return folder if folder.is_absolute() else root / folder


def robot_config_path(config: dict, name: str, source: str | Path = "config", root: Path = REPO_ROOT) -> Path:
    """Path of ``<robots_dir>/<name>.yaml``; an unknown robot is an error that lists the known ones."""
    folder = robots_dir(config, root)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        index = config["robots"].index(name) if name in config.get("robots", []) else None
        raise LocomimicError(
            source,
            f"unknown robot {name!r}: no {path}; known robots: {known}",
            location=f"robots[{index}]" if index is not None else "robots",
        )
    return path
