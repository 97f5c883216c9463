"""NVIDIA TAO skill-bank folders, read as NVIDIA publishes them, onto skillrun's contracts.

The only module that knows TAO's ``skill_info.yaml``. TAO writes it its own way:

- top level: ``name``, ``network_arch``, ``container_image`` (an image, or a
  ``versions.yaml`` key such as ``tao_toolkit.deploy``), ``data_format``,
  ``gpu_spec_key``, ``automl_enabled``, ``description``, ``type`` (no ``kind``);
- ``data_sources``, ``spec_params``, ``spec_templates`` keyed by action, and
  ``spec_shorthand_keys``, ``key_defaults`` for every action;
- per action: ``command`` with ``{config_path}``, ``config_format``, ``mode``,
  ``inputs``/``outputs`` mapping a spec key to ``{type, optional}``,
  ``upload_excludes``, an optional ``container_image``, metric keys;
- deploy sub-skills in ``references/<name>.skill_info.yaml`` with an image and
  actions of their own (``gen_trt_engine``, TensorRT ``evaluate`` and
  ``inference``). They join the skill: an action whose name the skill already
  uses becomes ``deploy_<action>``.

Application, platform and core skills often have no ``skill_info.yaml`` at all,
or one without a command per action: they load as guidance-only skills.

Nothing here refuses a skill: a field that is not understood, an action of an
unknown shape, or a file that does not parse is a warning naming the file and
the key, and the rest loads. Pure functions over parsed YAML plus small reads
of the skill's own folder (sub-skill files, the image stamps).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from skillrun.bank.tao_support import resolve_image, triggers
from skillrun.contracts.report import Issue

#: TAO ``type`` -> skillrun kind
_TYPES = {"model": "model", "workflow": "application", "application": "application", "platform": "platform", "data": "data", "core": "core", "dataset": "data"}
#: the bank's category folder -> kind, for skill_info files without ``type`` and skills without one
_CATEGORIES = {"models": "model", "applications": "application", "data": "data", "platform": "platform", "core": "core"}
#: top-level keys read into the contract
_READ = {"name", "network_arch", "automl_enabled", "container_image", "data_format", "gpu_spec_key", "actions", "data_sources",
         "spec_params", "spec_shorthand_keys", "spec_templates", "key_defaults", "description", "type"}
#: top-level keys TAO uses for people and agents: kept under ``metadata``, no warning
_KEPT = {"notes", "prerequisites", "depends_on", "required_credentials", "optional_credentials", "credential_groups",
         "resource_defaults", "cloud_storage", "version", "tags", "license", "author"}
_ACTION_KEYS = {"command", "config_format", "mode", "inputs", "outputs", "upload_excludes", "container_image", "description",
                "metrics", "metric", "kpi", "kpi_keys", "metric_keys", "primary_metric", "automl_metric"}
_METRIC_KEYS = ("primary_metric", "automl_metric", "metric", "metrics", "kpi", "kpi_keys", "metric_keys")
_RESOLVER_LIKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")

Warn = Callable[[str, str, str], None]


def is_tao(data: Any) -> bool:
    """A ``skill_info.yaml`` in TAO's shape: skillrun's own always says ``kind``."""
    return isinstance(data, dict) and "kind" not in data


def guidance_only(skill_dir: Path, name: str, description: str, why: str | None = None) -> dict[str, Any]:
    """The contract of a skill with no usable ``skill_info.yaml``: routed to and described, never run."""
    meta = {"guidance": why} if why else {}
    return {"name": name, "kind": kind_of(skill_dir, None), "engine": "none", "instructions_only": True, "triggers": triggers(description, []), "metadata": meta}


def kind_of(skill_dir: Path, tao_type: Any) -> str:
    """TAO's ``type``, else the bank's category folder the skill sits in, else ``application``."""
    if isinstance(tao_type, str) and tao_type.lower() in _TYPES:
        return _TYPES[tao_type.lower()]
    return _CATEGORIES.get(skill_dir.parent.name, "application")


def adapt(skill_dir: Path, file: Path, data: dict[str, Any], name: str, description: str) -> tuple[dict[str, Any], list[Issue]]:
    """``data`` (a TAO ``skill_info.yaml``) as the fields of :class:`~skillrun.contracts.skill.SkillInfo`, and the warnings."""
    issues: list[Issue] = []

    def warn(key: str, message: str, hint: str) -> None:
        issues.append(Issue(path=f"{file}: {key}", message=message, hint=hint, severity="warning", stage="bank", code="tao_field"))

    for key in sorted(set(data) - _READ - _KEPT):
        warn(key, "not a skill_info.yaml field skillrun knows; ignored", "nothing to do unless this field should change how the skill runs")
    if isinstance(data.get("name"), str) and data["name"] != name:
        warn("name", f"{data['name']!r} differs from the folder and SKILL.md name {name!r}; the skill is called {name!r}", "use one name in both files")
    image = resolve_image(skill_dir, data.get("container_image"), "container_image", warn)
    actions: dict[str, Any] = {}
    main = _actions(skill_dir, file, data, file.parent, warn, None)
    actions.update(main)
    for sub in sorted(skill_dir.glob("references/*.skill_info.yaml")):
        actions.update(_deploy_actions(skill_dir, sub, actions, image, issues))
    meta = {k: data[k] for k in sorted(_KEPT & set(data)) if data[k] not in (None, {}, [])}
    kind = kind_of(skill_dir, data.get("type"))
    out: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "network_arch": data.get("network_arch") if isinstance(data.get("network_arch"), str) else None,
        "engine": "tao",
        "container_image": image,
        "automl_enabled": data.get("automl_enabled") is True,
        "triggers": triggers(description, list(actions)),
        "actions": actions,
        "metadata": meta,
    }
    if not any(a.get("command") for a in actions.values()):
        out.update(engine="none", instructions_only=True)
        if kind == "model" and not actions:
            warn("actions", "no action with a command: the skill loads as guidance only", "give each action a command, e.g. command: rtdetr train -e {config_path}")
    return out, issues


# -- actions -------------------------------------------------------------------
def _actions(skill_dir: Path, file: Path, data: dict[str, Any], base: Path, warn: Warn, image: str | None) -> dict[str, Any]:
    """The actions of one TAO skill_info file, with their per-action tables joined in."""
    raw = data.get("actions")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        warn("actions", f"must be a mapping of action name -> action, not {type(raw).__name__}; no action loaded", "write actions: {train: {command: ...}}")
        return {}
    tables = {key: _table(data, key, warn) for key in ("data_sources", "spec_params", "spec_templates")}
    shorthand = _per_action(data.get("spec_shorthand_keys"), raw)
    defaults = _per_action(data.get("key_defaults"), raw)
    gpu_key = data.get("gpu_spec_key") if isinstance(data.get("gpu_spec_key"), str) else None
    data_format = data.get("data_format") if isinstance(data.get("data_format"), str) else None
    out: dict[str, Any] = {}
    for action, body in raw.items():
        where = f"actions.{action}"
        if not isinstance(action, str) or not re.match(r"^[a-z][a-z0-9_-]*$", action):
            warn(where, "not an action name (lower-case letters, digits, _ and -); skipped", "rename the action")
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            warn(where, f"an action must be a mapping (command, inputs, outputs, ...), not {type(body).__name__}; skipped", "write it as a mapping, e.g. {command: ..., config_format: yaml}")
            continue
        short = _shorthand(shorthand.get(action), warn)
        out[action] = _action(skill_dir, action, body, where, warn, image, tables, short, gpu_key, data_format, base)
        out[action]["key_defaults"] = _key_defaults(defaults.get(action), "key_defaults", warn)
    return out


def _per_action(value: Any, actions: dict[str, Any]) -> dict[str, Any]:
    """A table TAO writes either for every action (flat) or keyed by action: per action, always."""
    if isinstance(value, dict) and value and all(k in actions and isinstance(v, dict) for k, v in value.items()):
        return value
    return {action: value for action in actions}


def _keyed(value: Any, where: str, warn: Warn, shape: str, example: str) -> Iterator[tuple[str, Any]]:
    """(spec key, item) of a TAO table keyed by dotted spec keys; anything else is one warning each, never an error."""
    from skillrun.contracts.skill import _SPEC_PATH

    if value is None:
        return
    if not isinstance(value, dict):
        warn(where, f"must be a mapping of spec key -> {shape}; ignored", f"e.g. {example}")
        return
    for key, item in value.items():
        if isinstance(key, str) and re.match(_SPEC_PATH, key):
            yield key, item
        else:
            warn(f"{where}.{key}", "not a dotted spec key; ignored", f"e.g. {example}")


def _key_defaults(value: Any, where: str, warn: Warn) -> dict[str, Any]:
    return dict(_keyed(value, where, warn, "value", "model.encoder: vits"))


def _action(skill_dir: Path, action: str, body: dict[str, Any], where: str, warn: Warn, image: str | None, tables: dict[str, dict[str, Any]],
            shorthand: dict[str, str], gpu_key: str | None, data_format: str | None, base: Path) -> dict[str, Any]:
    for key in sorted(set(body) - _ACTION_KEYS):
        warn(f"{where}.{key}", "not an action field skillrun knows; ignored", "nothing to do unless this field should change how the action runs")
    command = body.get("command")
    if command is not None and not (isinstance(command, str) or (isinstance(command, list) and all(isinstance(w, str) for w in command))):
        warn(f"{where}.command", f"must be a command line or an argv list, not {type(command).__name__}; the action cannot run", "write command: rtdetr train -e {config_path}")
        command = None
    mode = body.get("mode", "config")
    if mode not in ("config", None):
        warn(f"{where}.mode", f"mode {mode!r}: skillrun hands the spec as a file (-e {{config_path}}), as in mode 'config'", "check that the command reads its spec from {config_path}")
    fmt = body.get("config_format", "yaml")
    if fmt not in ("yaml", "json"):
        warn(f"{where}.config_format", f"{fmt!r} is not written by skillrun; the spec is handed over as YAML", "use config_format: yaml or json")
        fmt = "yaml"
    out: dict[str, Any] = {
        "description": body.get("description") if isinstance(body.get("description"), str) else _describe(action, command),
        "command": command,
        "config_format": fmt,
        "path_inputs": _paths(body.get("inputs"), f"{where}.inputs", warn),
        "path_outputs": _paths(body.get("outputs"), f"{where}.outputs", warn),
        "upload_excludes": [x for x in body.get("upload_excludes") or [] if isinstance(x, str)],
        "spec_shorthand_keys": dict(shorthand),
        "metrics": _metrics(body),
    }
    fine_tune = shorthand.get("pretrained_model")  # TAO's name for the full-model weights a train can start from
    if fine_tune:
        out["inputs"] = {"pretrained_model": fine_tune}
    own_image = resolve_image(skill_dir, body.get("container_image"), f"{where}.container_image", warn) if body.get("container_image") else None
    if own_image or image:
        out["container_image"] = own_image or image
    if gpu_key and _reads_section(action, gpu_key):
        out["resources"] = {"processes": gpu_key}
    out["data_sources"] = _data_sources(tables["data_sources"].get(action), f"data_sources.{action}", warn, data_format)
    out["spec_params"] = _spec_params(tables["spec_params"].get(action), f"spec_params.{action}", warn)
    template = tables["spec_templates"].get(action)
    if isinstance(template, str) and template:
        out["spec_templates"] = {"default": _relative(skill_dir, base / template)}
    elif template is not None:
        warn(f"spec_templates.{action}", "must be a file path", "e.g. spec_templates: {train: ../references/spec_template_train.yaml}")
    return out


def _deploy_actions(skill_dir: Path, sub: Path, taken: dict[str, Any], main_image: str | None, issues: list[Issue]) -> dict[str, Any]:
    """The actions of a deploy sub-skill (``references/tao-deploy-X.skill_info.yaml``), renamed where they clash.

    An action the skill already has with the same command and image is the same
    action written twice (image classification does this) and is not repeated.
    """
    from skillrun import yamlio

    def warn(key: str, message: str, hint: str) -> None:
        issues.append(Issue(path=f"{sub}: {key}" if key else str(sub), message=message, hint=hint, severity="warning", stage="bank", code="tao_field"))

    try:
        data = yamlio.load_file(sub)
    except Exception as exc:  # yaml.YAMLError, OSError, UnicodeError: one warning, the skill still loads
        warn("", f"not readable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); its actions are left out", "fix the YAML at that line")
        return {}
    if not isinstance(data, dict):
        warn("", "must be a mapping; its actions are left out", "see references/skill_info.yaml for the shape")
        return {}
    for key in sorted(set(data) - _READ - _KEPT):
        warn(key, "not a skill_info.yaml field skillrun knows; ignored", "nothing to do unless this field should change how the skill runs")
    image = resolve_image(skill_dir, data.get("container_image"), "container_image", warn) or main_image
    found = _actions(skill_dir, sub, data, sub.parent, warn, image)
    out: dict[str, Any] = {}
    for action, body in found.items():
        schema = f"schemas/{action}.schema.json"
        same = taken.get(action)
        if same is not None and same.get("command") == body.get("command") and same.get("container_image") == body.get("container_image"):
            continue
        name = action if action not in taken else f"deploy_{action}"
        if name in taken:
            warn(f"actions.{action}", f"the skill already has {action!r} and {name!r}; left out", "rename one of them")
            continue
        body["description"] = f"{action.replace('_', ' ')} with TensorRT, in the deploy image ({body.get('command') or 'no command'})"
        if name == action and (skill_dir / schema).is_file():
            body["schema_file"] = schema
        elif name != action:  # the TensorRT spec is not the PyTorch action's: TAO ships no schema for it, the template rules
            body["schema_file"] = f"schemas/{name}.schema.json"
        out[name] = body
    return out


def _describe(action: str, command: Any) -> str:
    line = command if isinstance(command, str) else " ".join(command) if isinstance(command, list) else None
    return f"{action.replace('_', ' ')}" + (f" ({line})" if line else "")


def _reads_section(action: str, key: str) -> bool:
    """Whether ``gpu_spec_key`` (``train.num_gpus``) sizes ``action``: its own section, or the training family's."""
    section = key.split(".", 1)[0]
    return section == action or (section == "train" and action in ("train", "distill", "retrain"))


def _metrics(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in _METRIC_KEYS:
        value = body.get(key)
        values = value if isinstance(value, list) else [value]
        out += [v for v in values if isinstance(v, str) and v and v not in out]
    return out


def _table(data: dict[str, Any], key: str, warn: Warn) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        warn(key, f"must be a mapping keyed by action, not {type(value).__name__}; ignored", f"write {key}: {{train: ...}}")
        return {}
    return value


def _shorthand(value: Any, warn: Warn) -> dict[str, str]:
    from skillrun.contracts.skill import _SPEC_PATH

    if value is None:
        return {}
    if not isinstance(value, dict):
        warn("spec_shorthand_keys", "must be a mapping of short key -> spec key; ignored", "e.g. spec_shorthand_keys: {num_epochs: train.num_epochs}")
        return {}
    out = {}
    for short, target in value.items():
        if isinstance(short, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", short) and isinstance(target, str) and re.match(_SPEC_PATH, target):
            out[short] = target
        else:
            warn(f"spec_shorthand_keys.{short}", f"{short!r} -> {target!r} is not a short key -> dotted spec key pair; ignored", "e.g. num_epochs: train.num_epochs")
    return out


def _paths(value: Any, where: str, warn: Warn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in _keyed(value, where, warn, "{type, optional}", "evaluate.checkpoint: {type: file}"):
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type", "file")
        out[key] = {"type": kind if kind in ("file", "folder") else "file", "optional": spec.get("optional") is True}
    return out


def _spec_params(value: Any, where: str, warn: Warn) -> dict[str, Any]:
    """TAO's resolvers by name, plain values as constants, ``{link, destination_path}`` as links."""
    from skillrun.contracts.skill import Resolver

    known = {r.value for r in Resolver}
    out: dict[str, Any] = {}
    for key, param in _keyed(value, where, warn, "resolver", "evaluate.checkpoint: parent_model"):
        if isinstance(param, str) and param in known:
            out[key] = param
        elif isinstance(param, dict) and isinstance(param.get("link"), str) and param["link"]:
            out[key] = {"link": param["link"], "destination_path": param.get("destination_path") if isinstance(param.get("destination_path"), str) else None}
        elif isinstance(param, str) and _RESOLVER_LIKE.match(param):
            warn(f"{where}.{key}", f"resolver {param!r} is not one skillrun runs; the key is left as the spec has it", f"set {key} yourself, or use one of: {', '.join(sorted(known))}")
        elif isinstance(param, (str, int, float, bool)) or param is None:
            out[key] = {"constant": param}
        else:
            warn(f"{where}.{key}", f"{type(param).__name__} is neither a resolver name, a value nor {{link, destination_path}}; ignored", "e.g. results_dir: output_dir")
    return out


def _data_sources(value: Any, where: str, warn: Warn, data_format: str | None) -> list[dict[str, Any]]:
    """TAO's per-leaf sources as skillrun entries: leaves of one entry from one source join, a lone leaf stays a path.

    ``dataset.train_data_sources[0].image_dir: {source: train_datasets, path: images.tar.gz}``
    and its ``json_file`` sibling become one entry ``dataset.train_data_sources`` (a list,
    from the ``[0]``) with files ``{image_dir: images.tar.gz, json_file: annotations.json}``.
    """
    from skillrun.composition import paths

    if value is None:
        return []
    if not isinstance(value, dict):
        warn(where, "must be a mapping of spec key -> {source, path}; ignored", "e.g. dataset.val_data_sources.json_file: {source: eval_dataset, path: annotations.json}")
        return []
    leaves: list[tuple[str, str, str, bool, str | None]] = []  # (entry, field, source, list-valued field, file)
    for key, spec in value.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("source"), str):
            warn(f"{where}.{key}", "must be {source: NAME, path: FILE}; ignored", "e.g. {source: train_datasets, path: annotations.json}")
            continue
        try:
            tokens = paths.parse(str(key))
        except ValueError:
            warn(f"{where}.{key}", "not a dotted spec key; ignored", "e.g. dataset.val_data_sources.image_dir")
            continue
        file = spec.get("path")
        leaves.append((str(key), paths.format(tokens), spec["source"], spec.get("list") is True, file if isinstance(file, str) else None))
    groups: dict[tuple[str, str], list[tuple[list[Any], str | None, bool]]] = {}
    for key, _, source, is_list, file in leaves:
        tokens = paths.parse(key)
        while tokens and isinstance(tokens[-1], int):  # dataset.infer_data_sources.image_dir[0]: the field holds a list
            tokens, is_list = tokens[:-1], True
        groups.setdefault((paths.format(tokens[:-1]), source), []).append((tokens, file, is_list))
    out: list[dict[str, Any]] = []
    for (parent, source), members in groups.items():
        if len(members) >= 2 and parent:
            entry_tokens = paths.parse(parent)
            is_list = bool(entry_tokens) and isinstance(entry_tokens[-1], int)
            while entry_tokens and isinstance(entry_tokens[-1], int):
                entry_tokens = entry_tokens[:-1]
            files = {str(tokens[-1]): file or "" for tokens, file, _ in members}
            fmt = data_format if data_format == "coco" and "json_file" in files else "classmap" if "classmap" in files else None
            out.append({"spec_key": paths.format(entry_tokens), "source": source, "files": files, "list": is_list, "format": fmt})
        else:
            for tokens, file, is_list in members:
                out.append({"spec_key": paths.format(tokens), "source": source, "path": file or "", "list": is_list})
    return out


def _relative(skill_dir: Path, file: Path) -> str:
    """``file`` relative to the skill folder (TAO writes template paths relative to the skill_info file)."""
    return os.path.relpath(os.path.normpath(file), skill_dir)
