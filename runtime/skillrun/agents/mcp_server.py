"""``skillrun mcp``: the agent tools over MCP (stdio), on the mcp SDK 2.x ``MCPServer``.

Every tool has typed inputs (JSON Schema from the signature) and a pydantic
return type, so clients get ``outputSchema`` and ``structured_content``. A
SkillrunError becomes a tool error (``is_error``) whose text is what the CLI
prints — the message, every problem with its dotted path, the hint — followed
by the CLI's ``--json`` error document on the last line; the same document
(with ``errors``, one per problem) is the error's ``structured_content``.

stdout carries protocol messages only: jobs run detached with their output in
``<job>/logs/``, diagnostics go to stderr, and while serving the SDK points
fd 1 at stderr so a stray ``print`` cannot corrupt the stream.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Callable, Literal

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from skillrun import __version__
from skillrun.agents.tools import Toolbox, request
from skillrun.contracts.agents import JobInfo, LogTail, PlanResult, Results, SkillDescription, SkillList, ValidationResult
from skillrun.contracts.route import RouteResult
from skillrun.errors import SkillrunError


INSTRUCTIONS = """\
skillrun runs object-detection skills (RT-DETR train/evaluate/export/..., dataset convert/validate/prepare) as jobs.
Use: route (request -> skill, action, modifiers) -> describe_skill (required inputs, examples) -> validate_spec ->
plan -> run (returns a job id) -> job_status until terminal -> results. Overrides are key=value words with dotted
keys (train.num_epochs=10); errors name the dotted path, the bad value, what is allowed and a suggestion."""

Overrides = Annotated[list[str] | None, Field(description="key=value words with dotted keys, e.g. ['train.num_epochs=10', 'dataset.batch_size=8'].")]
OverridesJson = Annotated[dict[str, Any] | None, Field(description="The same as a JSON object of dotted keys, e.g. {'train.num_epochs': 10}.")]
SpecFile = Annotated[str | None, Field(description="A YAML spec file layered over the template (path on the server).")]
Parent = Annotated[str | None, Field(description="JOB[:best|:latest|:epoch=N]: take the model from this job (default: its best checkpoint).")]
Automl = Annotated[Literal["on", "off"] | None, Field(description="AutoML for a train run (default: the skill's policy).")]
CheckData = Annotated[bool, Field(description="Run the data preflight (files exist, COCO loads, class counts).")]
JobId = Annotated[str, Field(description="A job id (or a unique prefix of one).")]
_DROP = ("spec", "provenance", "derived")  #: large parts of a SpecError document the message does not need


def error_text(exc: SkillrunError) -> str:
    """The CLI's words for ``exc`` (message, problems, hint), then its ``--json`` document on one line."""
    lines = [f"error: {exc.message}"]
    issues = getattr(exc, "issues", None) or []
    lines += [f"{'✗' if i.severity == 'error' else '!'} {i.render()}" for i in issues]
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    doc = {k: v for k, v in exc.to_dict().items() if k not in _DROP}
    lines.append(json.dumps(doc, default=str))
    return "\n".join(lines)


def error_result(exc: SkillrunError) -> CallToolResult:
    """A tool error an agent can act on: the CLI's words as text, the ``--json`` error document as structured content."""
    doc = json.loads(json.dumps({k: v for k, v in exc.to_dict().items() if k not in _DROP}, default=str))
    issues = getattr(exc, "issues", None)
    if issues:
        doc["errors"] = [i.model_dump(mode="json") for i in issues if i.severity == "error"]
    return CallToolResult(content=[TextContent(type="text", text=error_text(exc))], structured_content=doc, is_error=True)


def _call(fn: Callable[..., BaseModel], *args: Any, **kwargs: Any) -> CallToolResult:
    """The tool's model as structured content (and JSON text), or a SkillrunError as :func:`error_result`."""
    try:
        model = fn(*args, **kwargs)
    except SkillrunError as exc:
        return error_result(exc)
    return CallToolResult(content=[TextContent(type="text", text=model.model_dump_json())], structured_content=model.model_dump(mode="json", by_alias=True))


def build_server(toolbox: Toolbox) -> MCPServer:
    """An MCPServer whose tools call ``toolbox``."""
    server: MCPServer = MCPServer(name="skillrun", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def list_skills() -> Annotated[CallToolResult, SkillList]:
        """The skills in the bank: name, kind, engine, description and actions."""
        return _call(toolbox.list_skills)

    @server.tool()
    def describe_skill(skill: str, action: str | None = None) -> Annotated[CallToolResult, SkillDescription]:
        """Everything needed to build an invocation: required inputs, data sources, popular parameters
        (defaults, bounds), parent requirements and example commands, for every action or the one named."""
        return _call(toolbox.describe_skill, skill, action)

    @server.tool()
    def route(request: Annotated[str, Field(description="The user's request in their words.")], top_k: Annotated[int, Field(ge=1, le=20)] = 3) -> Annotated[CallToolResult, RouteResult]:
        """Which (skill, action) a request means, ranked with scores and matched words; abstain=true when
        nothing fits. modifiers/suggestion carry AutoML off, --parent JOB:latest, GPU counts as overrides."""
        return _call(toolbox.route, request, top_k)

    @server.tool()
    def validate_spec(skill: str, action: str, overrides: Overrides = None, overrides_json: OverridesJson = None, spec_file: SpecFile = None, check_data: CheckData = True) -> Annotated[CallToolResult, ValidationResult]:
        """Compose and validate a spec; every problem comes back at once as a tool error naming each dotted path."""
        return _call(toolbox.validate_spec, skill, action, overrides, overrides_json, spec_file, check_data)

    @server.tool()
    def plan(
        skill: str,
        action: str,
        overrides: Overrides = None,
        overrides_json: OverridesJson = None,
        spec_file: SpecFile = None,
        parent: Parent = None,
        backend: str = "local",
        automl: Automl = None,
        nproc: Annotated[int | None, Field(ge=1)] = None,
        check_data: CheckData = True,
    ) -> Annotated[CallToolResult, PlanResult]:
        """What run would do — resolved spec, parent checkpoint, launch command, backend — with nothing started."""
        req = request(skill, action, overrides=overrides, overrides_json=overrides_json, spec_file=spec_file, parent=parent, backend=backend, automl=automl, nproc=nproc, check_data=check_data)
        return _call(toolbox.plan, req)

    @server.tool()
    def run(
        skill: str,
        action: str,
        overrides: Overrides = None,
        overrides_json: OverridesJson = None,
        spec_file: SpecFile = None,
        parent: Parent = None,
        backend: str = "local",
        automl: Automl = None,
        nproc: Annotated[int | None, Field(ge=1)] = None,
        check_data: CheckData = True,
        wait: Annotated[bool, Field(description="Return only when the job is terminal (default: return the job id at once).")] = False,
        timeout_s: Annotated[float | None, Field(gt=0, description="With wait: give up waiting after this many seconds (the job keeps running).")] = None,
    ) -> Annotated[CallToolResult, JobInfo]:
        """Validate, record and start a job; returns its id and state. Follow it with job_status / job_logs."""
        req = request(skill, action, overrides=overrides, overrides_json=overrides_json, spec_file=spec_file, parent=parent, backend=backend, automl=automl, nproc=nproc, check_data=check_data)
        return _call(toolbox.run, req, wait, timeout_s)

    @server.tool()
    def job_status(job_id: JobId) -> Annotated[CallToolResult, JobInfo]:
        """A job's state (PENDING, RUNNING, COMPLETE, ERROR, CANCELED), newest progress event and metrics."""
        return _call(toolbox.job_status, job_id)

    @server.tool()
    def job_logs(job_id: JobId, tail: Annotated[int, Field(ge=0, le=5000)] = 50) -> Annotated[CallToolResult, LogTail]:
        """The last lines of a job's output (secrets masked)."""
        return _call(toolbox.job_logs, job_id, tail)

    @server.tool()
    def cancel_job(job_id: JobId, grace_s: Annotated[float, Field(ge=0)] = 10.0) -> Annotated[CallToolResult, JobInfo]:
        """Stop a job and every process it started (SIGTERM, then SIGKILL after grace_s); a finished job is left as it is."""
        return _call(toolbox.cancel_job, job_id, grace_s)

    @server.tool()
    def results(job_id: JobId) -> Annotated[CallToolResult, Results]:
        """What a job wrote: declared outputs, checkpoints, metrics and files of its results folder."""
        return _call(toolbox.results, job_id)

    return server


def serve(toolbox: Toolbox) -> None:
    """Serve over stdio until the client closes the stream."""
    toolbox.bank  # noqa: B018 - load the bank before the first request, errors surface here
    build_server(toolbox).run("stdio")
