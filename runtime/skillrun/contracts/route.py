"""What the router answers (``skillrun route --json``, the MCP ``route`` tool) and what ``eval-routing`` reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(defer_build=True)


class Candidate(_Model):
    """One (skill, action) the request may mean, with the evidence for it."""

    skill: str
    action: str | None = Field(default=None, description="null for a guidance-only skill with no actions: follow its SKILL.md (`skillrun describe SKILL`).")
    guidance_only: bool = Field(default=False, description="The skill is guidance only (no machine contract): described, never planned or run.")
    score: float = Field(description="BM25 over the skill and the action plus trigger-phrase matches; orders a skill's actions and is compared with `threshold`.")
    skill_score: float = Field(default=0.0, description="The skill's rank: the same evidence with the action text at a quarter weight (banks describe actions unequally); orders the skills.")
    matched_words: list[str] = Field(default_factory=list, description="Words of the request that matched the skill or action text.")
    matched_triggers: list[str] = Field(default_factory=list, description="Trigger phrases of skill_info.yaml the request contains (and the skill's name, when the request says it).")


class Modifiers(_Model):
    """How the request wants the action run, read from its wording."""

    automl_policy: Literal["on", "off"] | None = Field(default=None, description='"no HPO", "plain training", "turn off AutoML" -> off.')
    parent_job: str | None = Field(default=None, description="A job id named in the request (the parent to take a model from).")
    parent_selector: str | None = Field(default=None, description="best, latest or epoch=N, when the request names a checkpoint.")
    num_gpus: int | None = Field(default=None, description='"on 4 GPUs" -> 4 (processes per node).')
    num_nodes: int | None = None
    epochs: int | None = None
    phrases: list[str] = Field(default_factory=list, description="The words each modifier was read from.")

    @property
    def empty(self) -> bool:
        return not self.phrases


class Suggestion(_Model):
    """The invocation the top candidate and the modifiers add up to (check it with `plan` first)."""

    options: list[str] = Field(default_factory=list, description="Command options, e.g. --automl off, --parent JOB:latest.")
    overrides: list[str] = Field(default_factory=list, description="key=value words, e.g. train.num_gpus=4.")
    command: str
    notes: list[str] = Field(default_factory=list)


class Unknown(_Model):
    """Why a request is about something the bank does not have."""

    words: list[str] = Field(description="The request's words that name it.")
    after: str | None = Field(default=None, description="The action word they follow (train, fine-tune, export ...), if any.")


class RouteResult(_Model):
    """The ranked answer; ``abstain`` is true when no skill fits well enough."""

    request: str
    abstain: bool
    reason: str | None = Field(default=None, description="Why the router abstained.")
    threshold: float
    routed_text: str | None = Field(default=None, description="The part of the request that was scored, when it differs (the quoted request of a wrapped prompt, negated instructions left out).")
    unknown: Unknown | None = Field(default=None, description="A model or thing the request names that no skill of the bank knows: the router abstains.")
    candidates: list[Candidate] = Field(default_factory=list, description="Best first; present even when abstaining (all below threshold).")
    modifiers: Modifiers = Field(default_factory=Modifiers)
    suggestion: Suggestion | None = None

    @property
    def top(self) -> Candidate | None:
        return None if self.abstain or not self.candidates else self.candidates[0]


class EvalFailure(_Model):
    skill_file: str = Field(description="The skill whose evals.json holds the case.")
    id: int | str | None = None
    prompt: str
    expected: str | None = Field(description="skill/action, skill, or null for abstain.")
    got: str | None
    score: float | None
    note: str | None = Field(default=None, description="e.g. the expected skill is not in the bank, or why the router abstained.")


class EvalUnloaded(_Model):
    """A skill, or an evals.json, that eval-routing could not read: its cases are not counted."""

    skill: str
    path: str
    reason: str


class EvalTally(_Model):
    """Counts for the cases of one source of skills (builtin, --skills-dir, a plugin ...)."""

    routed_cases: int = 0
    top1_correct: int = 0
    top1_accuracy: float = 1.0
    abstain_cases: int = 0
    abstain_correct: int = 0


class EvalReport(_Model):
    """Routing accuracy over every evals.json in the bank."""

    skills: list[str]
    cases: int
    routed_cases: int = Field(description="Cases that expect a skill.")
    top1_correct: int
    top1_accuracy: float
    abstain_cases: int = Field(description="Cases that expect no skill.")
    abstain_correct: int
    abstain_accuracy: float
    threshold: float
    lowest_correct_score: float | None = Field(default=None, description="Smallest top score among routed cases that were right.")
    highest_offtopic_score: float | None = Field(
        default=None, description="Largest top score among cases that expect none and that only the threshold can catch (not about a model the bank lacks)."
    )
    by_origin: dict[str, EvalTally] = Field(default_factory=dict, description="The same counts per source of the skills whose evals.json holds the case.")
    unloaded: list[EvalUnloaded] = Field(default_factory=list, description="Skills that failed to load and evals.json files that failed to parse (or lie in a folder with no SKILL.md).")
    missing_skills: list[str] = Field(default_factory=list, description="Skills that cases expect but the bank does not have (those cases count as wrong).")
    failures: list[EvalFailure] = Field(default_factory=list)
