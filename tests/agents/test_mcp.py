"""The MCP server through the SDK's real client: in-process (memory transport) and over stdio (`skillrun mcp`).

Each runs the agent loop on the script-engine test skill: list → route →
validate (an invalid spec is a tool error naming the path) → run → status
until complete → results. A raw stdio session checks stdout holds nothing but
JSON-RPC messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from tests.agents.conftest import SCRIPT_BANK  # noqa: E402

TOOLS = {"list_skills", "describe_skill", "route", "validate_spec", "plan", "run", "job_status", "job_logs", "cancel_job", "results"}


async def _agent_loop(client: Client) -> dict[str, Any]:
    """The AGENTS.md loop through MCP tools; returns the final results document."""
    listed = await client.call_tool("list_skills", {})
    assert not listed.is_error and "scriptjob" in {s["name"] for s in listed.structured_content["skills"]}
    routed = await client.call_tool("route", {"request": "run the script job test skill"})
    assert routed.structured_content["abstain"] is False and routed.structured_content["candidates"][0]["skill"] == "scriptjob"
    off = await client.call_tool("route", {"request": "write a haiku about autumn"})
    assert off.structured_content["abstain"] is True
    bad = await client.call_tool("validate_spec", {"skill": "scriptjob", "action": "succeed", "overrides": ["succeed.epochs=-1", "succeed.epoch=2"]})
    assert bad.is_error
    text = bad.content[0].text
    assert "succeed.epochs = -1: must be >= 0" in text and "succeed.epoch" in text and "did you mean succeed.epochs?" in text
    doc = json.loads(text.splitlines()[-1])
    assert doc["code"] == "invalid_spec" and {e["path"] for e in doc["errors"]} == {"succeed.epochs", "succeed.epoch"}
    structured = bad.structured_content  # the same document, as data an agent need not parse out of text
    assert structured["code"] == "invalid_spec" and structured["exit_code"] == 2
    assert {(e["path"], e["value"]) for e in structured["errors"]} == {("succeed.epochs", -1), ("succeed.epoch", 2)}
    good = await client.call_tool("validate_spec", {"skill": "scriptjob", "action": "succeed", "overrides": ["succeed.epochs=2"]})
    assert not good.is_error and good.structured_content["spec"]["succeed"]["epochs"] == 2
    started = await client.call_tool("run", {"skill": "scriptjob", "action": "succeed", "overrides": ["succeed.epochs=2"]})
    assert not started.is_error, started.content
    job_id = started.structured_content["job_id"]
    with anyio.fail_after(60):
        while True:
            status = (await client.call_tool("job_status", {"job_id": job_id})).structured_content
            if status["terminal"]:
                break
            await anyio.sleep(0.2)
    assert status["state"] == "COMPLETE" and status["exit_code"] == 0 and status["metrics"]["best_val_mAP"] == pytest.approx(0.2)
    logs = (await client.call_tool("job_logs", {"job_id": job_id, "tail": 3})).structured_content
    assert logs["lines"][-1] == "[skillrun] exit code 0"
    results = (await client.call_tool("results", {"job_id": job_id})).structured_content
    assert [c["epoch"] for c in results["checkpoints"]] == [0, 1]
    missing = await client.call_tool("job_status", {"job_id": "no-such-job"})
    assert missing.is_error and '"code": "not_found"' in missing.content[0].text
    return results


def test_in_process_over_the_memory_transport(toolbox: Any) -> None:
    from skillrun.agents.mcp_server import build_server

    server = build_server(toolbox)

    async def main() -> None:
        async with Client(server, mode="legacy") as client:  # JSON-RPC over in-memory streams
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == TOOLS
            assert all(t.output_schema for t in tools), "every tool has a typed result"
            run_tool = next(t for t in tools if t.name == "run")
            assert run_tool.input_schema["properties"]["automl"]["anyOf"][0]["enum"] == ["on", "off"]
            await _agent_loop(client)
            desc = await client.call_tool("describe_skill", {"skill": "scriptjob", "action": "export"})
            export = desc.structured_content["actions"]["export"]
            assert export["parent"] == {**export["parent"], "required": True, "spec_keys": {"export.checkpoint": "parent_model"}}
            assert [r["path"] for r in export["required"]] == ["export.checkpoint"], "onnx_file is filled at launch"
            plan = await client.call_tool("plan", {"skill": "scriptjob", "action": "succeed"})
            assert plan.structured_content["engine"] == "script" and "job.py" in plan.structured_content["command"]

    anyio.run(main)


def test_cancel_job_stops_a_running_job(toolbox: Any) -> None:
    from skillrun.agents.mcp_server import build_server

    async def main() -> None:
        async with Client(build_server(toolbox)) as client:  # the SDK's default (modern, in-process) connection
            started = (await client.call_tool("run", {"skill": "scriptjob", "action": "sleep"})).structured_content
            canceled = (await client.call_tool("cancel_job", {"job_id": started["job_id"], "grace_s": 1})).structured_content
            assert canceled["state"] == "CANCELED" and canceled["terminal"]

    anyio.run(main)


def test_over_stdio_with_skillrun_mcp(tmp_path: Path) -> None:
    env = {**os.environ, "SKILLRUN_PATH": str(SCRIPT_BANK), "SKILLRUN_DISABLE_PLUGINS": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "skillrun", "--workspace", str(tmp_path / "ws"), "mcp"], env=env)

    async def main() -> None:
        async with Client(params) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            await _agent_loop(client)

    anyio.run(main)


def test_stdout_carries_protocol_messages_only(tmp_path: Path) -> None:
    """A raw session whose job prints: every stdout line is a JSON-RPC message; the job's output went to its log."""
    env = {**os.environ, "SKILLRUN_PATH": str(SCRIPT_BANK), "SKILLRUN_DISABLE_PLUGINS": "1"}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run", "arguments": {"skill": "scriptjob", "action": "succeed", "overrides": ["succeed.epochs=1"], "wait": True, "timeout_s": 60}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "validate_spec", "arguments": {"skill": "nope", "action": "x"}}},
    ]
    with (tmp_path / "stderr.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "skillrun", "--workspace", str(tmp_path / "ws"), "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        assert proc.stdin is not None and proc.stdout is not None
        docs = []
        try:
            for req in requests:
                proc.stdin.write(json.dumps(req) + "\n")
                proc.stdin.flush()
                while "id" in req and not any(d.get("id") == req["id"] for d in docs):
                    line = proc.stdout.readline()
                    assert line, f"the server closed stdout; stderr: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
                    docs.append(json.loads(line))  # fails on anything that is not JSON
            proc.stdin.close()
            rest = proc.stdout.read()
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rest.strip() == "" and all(d.get("jsonrpc") == "2.0" for d in docs)
    by_id = {d.get("id"): d for d in docs}
    job = by_id[2]["result"]["structuredContent"]
    assert job["state"] == "COMPLETE" and "epoch 0" in Path(job["log_file"]).read_text()
    assert by_id[3]["result"]["isError"] is True and "no skill named 'nope'" in by_id[3]["result"]["content"][0]["text"]
