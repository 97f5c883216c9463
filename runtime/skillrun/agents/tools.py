"""The agent tools as plain typed functions over the Python API; the MCP server exposes them one to one.

Each returns a pydantic model (the MCP ``outputSchema``) or raises a
:class:`~skillrun.errors.SkillrunError` — the same errors, with the same
messages, the CLI reports. Jobs are launched detached through the backend,
their output goes to ``<job>/logs/``; nothing here writes to stdout.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillrun.bank.text import first_sentence
from skillrun.contracts.agents import JobInfo, LogTail, PlanResult, Results, SkillDescription, SkillList, SkillSummary, ValidationResult

if TYPE_CHECKING:
    from skillrun.bank.bank import SkillBank
    from skillrun.contracts.route import RouteResult
    from skillrun.launch.prepare import Request
    from skillrun.record.store import JobStore

BY = "mcp"  #: who the job record says started a job


class Toolbox:
    """The tools over one bank and one workspace (an MCP session, or a test)."""

    def __init__(self, skills_dirs: tuple[str, ...] = (), workspace: str | Path | None = None) -> None:
        from skillrun import settings

        self.skills_dirs = skills_dirs
        self.workspace = settings.workspace(workspace)
        self._bank: SkillBank | None = None

    @property
    def bank(self) -> SkillBank:
        if self._bank is None:
            from skillrun.api import load_bank

            self._bank = load_bank(self.skills_dirs)
        return self._bank

    @property
    def store(self) -> JobStore:
        from skillrun.record.store import JobStore

        return JobStore(self.workspace)

    # -- the bank ---------------------------------------------------------
    def list_skills(self) -> SkillList:
        bank = self.bank
        skills = [
            SkillSummary(name=s.name, kind=s.info.kind.value, engine=s.info.engine, description=first_sentence(s.description, 200), actions=s.actions,
                         automl_enabled=s.info.automl_enabled, guidance_only=s.info.instructions_only)
            for s in bank
        ]
        return SkillList(skills=skills, problems=[p.render() for p in bank.problem_summary()])

    def describe_skill(self, skill: str, action: str | None = None) -> SkillDescription:
        from skillrun.agents.describe import describe_skill

        return describe_skill(self.bank, skill, action)

    def route(self, request: str, top_k: int = 3) -> RouteResult:
        from skillrun.route import route

        return route(request, bank=self.bank, top_k=top_k, cache_dir=self.workspace / "cache")

    # -- specs and jobs ---------------------------------------------------
    def validate_spec(self, skill: str, action: str, overrides: list[str] | None = None, overrides_json: dict[str, Any] | None = None, spec_file: str | None = None, check_data: bool = True) -> ValidationResult:
        from skillrun.api import validate

        report = validate(skill, action, spec_file=spec_file, overrides=overrides or (), overrides_json=overrides_json, check_data=check_data, bank=self.bank, raise_on_error=True)
        return ValidationResult(
            skill=skill,
            action=action,
            ok=report.ok,
            spec=report.spec,
            warnings=[i.render() for i in report.warnings],
            derived={d.path: d.value for d in report.derived},
        )

    def plan(self, request: Request) -> PlanResult:
        from skillrun.cli.commands.plan import plan_dict
        from skillrun.launch.prepare import prepare

        data = plan_dict(prepare(self.bank, self.store, request))
        return PlanResult(
            skill=data["skill"],
            action=data["action"],
            engine=data["engine"],
            backend=data["backend"],
            automl=data["automl"],
            parent=data["parent"],
            command=data["command"],
            spec=data["spec"],
            resolved=data["resolved"],
            warnings=[w["message"] if not w.get("path") else f"{w['path']}: {w['message']}" for w in data["warnings"]],
        )

    def run(self, request: Request, wait: bool = False, timeout_s: float | None = None) -> JobInfo:
        from skillrun.launch.handle import Job
        from skillrun.launch.submit import start

        record = start(self.bank, self.store, request, by=BY)
        job = Job(self.store, record.id)
        if wait:
            job.wait(timeout_s)
        return self.job_status(record.id)

    def job_status(self, job_id: str) -> JobInfo:
        from skillrun.launch.handle import Job

        job = Job(self.store, job_id)
        rec = job.refresh()
        events = job.events()
        error = ": ".join(x for x in (rec.error_class, rec.error_message) if x) or None
        return JobInfo(
            job_id=rec.id,
            skill=rec.skill,
            action=rec.action,
            state=rec.state.value,
            terminal=rec.state.terminal,
            results_dir=rec.results_dir,
            log_file=str(self.store.log_file(rec.id)),
            exit_code=rec.exit_code,
            error=error,
            metrics=job.metrics,
            progress=events[-1].model_dump(mode="json", exclude_none=True) if events else None,
        )

    def job_logs(self, job_id: str, tail: int = 50) -> LogTail:
        from skillrun.launch.handle import Job

        job = Job(self.store, job_id)
        text = job.log_text()
        lines = list(deque(text.splitlines(), maxlen=max(tail, 0))) if tail else []
        return LogTail(job_id=job.id, state=job.refresh().state.value, lines=lines, log_file=str(self.store.log_file(job.id)))

    def cancel_job(self, job_id: str, grace_s: float = 10.0) -> JobInfo:
        from skillrun.launch.handle import Job

        job = Job(self.store, job_id)
        if not job.refresh().state.terminal:
            job.cancel(grace_s)
        return self.job_status(job.id)

    def results(self, job_id: str) -> Results:
        from skillrun.results.artifacts import job_results

        rec, _, found = job_results(self.bank, self.store, job_id)
        return Results(
            job_id=rec.id,
            state=rec.state.value,
            results_dir=str(found["results_dir"]),
            outputs=found.get("outputs", {}),
            checkpoints=found.get("checkpoints", []),
            metrics=found.get("metrics", {}),
            files=found.get("files", []),
            automl=found.get("automl"),
        )


def request(skill: str, action: str, *, overrides: list[str] | None = None, overrides_json: dict[str, Any] | None = None, spec_file: str | None = None, parent: str | None = None, backend: str = "local", automl: str | None = None, nproc: int | None = None, check_data: bool = True) -> Request:
    """The launch Request the plan and run tools pass on."""
    from skillrun.launch.prepare import Request

    return Request(skill, action, spec_file=spec_file, overrides=overrides or (), overrides_json=overrides_json, parent=parent, backend=backend, automl=automl, nproc=nproc, check_data=check_data)
