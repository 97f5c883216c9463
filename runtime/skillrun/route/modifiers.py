"""Intent modifiers: how the request wants the action run, read from its words.

- the AutoML policy, through :func:`skillrun.policy.automl.policy_from_text`
  (the one reading of "no HPO", "plain training", "turn off AutoML" ...);
- a parent job id (``rtdetr-train-3fa2c1``) and a checkpoint selector
  ("latest checkpoint" → ``latest``, "best checkpoint" → ``best``,
  ``model_epoch_009`` or "epoch=9" → ``epoch=9``, zero-indexed as on disk);
- a GPU count ("on 4 GPUs", "2 nodes x 8 GPUs", "a single GPU"), nodes and epochs.

:func:`suggest` turns them into options and ``key=value`` words for one action,
using only what its ``skill_info.yaml`` declares (``resources``,
``spec_shorthand_keys``, ``spec_params``), so no skill is special-cased here.
"""

from __future__ import annotations

import re
import shlex

from skillrun.contracts.route import Modifiers, Suggestion
from skillrun.route.index import ActionEntry

_NUMBER_WORDS = {"a": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8, "sixteen": 16}
_COUNT = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
_GPUS = re.compile(r"\b" + _COUNT + r"\s*(?:x\s*)?(?:nvidia\s+)?(?:[a-z]\d+\s+)?gpus?\b", re.I)
_GPUS_AFTER = re.compile(r"\b(?:gpus?|num_gpus|gpu count)\s*[=:]\s*(\d+)\b", re.I)
_NODES = re.compile(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\s*nodes?\b", re.I)
_EPOCHS = re.compile(r"\b(\d+)\s*epochs?\b", re.I)
_JOB_ID = re.compile(r"\b([a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{6})\b")
_EPOCH_FILE = re.compile(r"\bmodel_epoch_(\d+)\b", re.I)
_EPOCH_SELECTOR = re.compile(r"\bepoch\s*=\s*(\d+)\b|\bcheckpoint\s+(?:of|from|at)\s+epoch\s+(\d+)\b|\bepoch\s+(\d+)\s+checkpoint\b", re.I)
_LATEST = re.compile(r"\b(latest|last|most recent|newest|final)\s+(checkpoint|epoch|model|weights)\b", re.I)
_BEST = re.compile(r"\bbest\s+(checkpoint|epoch|model|weights)\b", re.I)


def _count(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text.lower()]


def read(request: str, *, skills: set[str] | None = None) -> Modifiers:
    """The modifiers in ``request``; ``skills`` (names in the bank) keeps job-id guesses honest."""
    from skillrun.policy.automl import policy_from_text

    found: dict[str, object] = {}
    phrases: list[str] = []
    policy = policy_from_text(request)
    if policy is not None:
        found["automl_policy"] = policy
        phrases.append(f"automl {policy}")
    if m := _GPUS_AFTER.search(request) or _GPUS.search(request):
        found["num_gpus"] = _count(m.group(1))
        phrases.append(m.group(0))
    if m := _NODES.search(request):
        found["num_nodes"] = _count(m.group(1))
        phrases.append(m.group(0))
    if m := _EPOCHS.search(request):
        found["epochs"] = int(m.group(1))
        phrases.append(m.group(0))
    for m in _JOB_ID.finditer(request):
        if skills is None or any(m.group(1).startswith(f"{s}-") for s in skills):
            found["parent_job"] = m.group(1)
            phrases.append(m.group(0))
            break
    if m := _EPOCH_FILE.search(request) or _EPOCH_SELECTOR.search(request):
        found["parent_selector"] = f"epoch={int(next(g for g in m.groups() if g is not None))}"
        phrases.append(m.group(0))
    elif m := _LATEST.search(request):
        found["parent_selector"] = "latest"
        phrases.append(m.group(0))
    elif m := _BEST.search(request):
        found["parent_selector"] = "best"
        phrases.append(m.group(0))
    return Modifiers(**found, phrases=phrases)  # type: ignore[arg-type]


def suggest(entry: ActionEntry, mods: Modifiers, verb: str = "plan") -> Suggestion:
    """Options and overrides for ``entry`` that carry out ``mods``; what does not apply becomes a note."""
    options: list[str] = []
    overrides: list[str] = []
    notes: list[str] = []
    if mods.automl_policy is not None:
        if entry.automl:
            options += ["--automl", mods.automl_policy]
        else:
            notes.append(f"AutoML {mods.automl_policy} was asked for, but {entry.skill} {entry.action} has no AutoML")
    if mods.parent_job or mods.parent_selector:
        parent = (mods.parent_job or "JOB") + (f":{mods.parent_selector}" if mods.parent_selector else "")
        if entry.takes_parent:
            options += ["--parent", parent]
            if not mods.parent_job:
                notes.append("replace JOB with the parent job id (`skillrun jobs` lists them)")
        elif mods.parent_job and entry.action == "train":
            notes.append(f"to continue {mods.parent_job} from its newest checkpoint: skillrun resume {mods.parent_job}")
        else:
            notes.append(f"{entry.skill} {entry.action} takes no parent model; --parent {parent} does not apply")
    for count, key, what in ((mods.num_gpus, entry.processes_key, "GPUs"), (mods.num_nodes, entry.nodes_key, "nodes")):
        if count is None:
            continue
        if key:
            overrides.append(f"{key}={count}")
        else:
            notes.append(f"{entry.skill} {entry.action} declares no spec key for the number of {what}")
    if mods.epochs is not None:
        key = entry.shorthand.get("epochs")
        if key:
            overrides.append(f"{key}={mods.epochs}")
        else:
            notes.append(f"{entry.skill} {entry.action} has no epochs key")
    command = shlex.join(["skillrun", verb, entry.skill, entry.action, *options, *overrides])
    return Suggestion(options=options, overrides=overrides, command=command, notes=notes)
