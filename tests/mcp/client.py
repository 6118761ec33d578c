"""Drives `dev-prism mcp` with the official MCP Python SDK (PyPI `mcp`), as an agent would.

    python3 client.py BIN journey REPO   initialize, list tools, a bad directory (tool error,
                                         server still alive), create -> info -> env -> logs ->
                                         plan -> destroy; prints {"dir", "vars"} as the last line
    python3 client.py BIN cancel REPO    create, cancelled once it waits for readiness; waits
                                         until the rollback removed the session

Run by tests/it/mcp.rs, which checks the ports and the engine afterwards. Exits non-zero (an
AssertionError) on any deviation.
"""

import json
import os
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TOOLS = {
    "create", "list", "info", "plan", "apply", "start", "stop", "destroy", "logs", "env",
    "proxy_focus",
}


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def call(session, name, args, **kw):
    result = await session.call_tool(name, args, **kw)
    assert not result.is_error, f"{name} {args} failed: {text_of(result)}"
    assert isinstance(result.structured_content, dict), f"{name}: no structured content"
    assert result.structured_content.get("command") == name, result.structured_content
    return result


async def journey(session, repo):
    tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    assert names == TOOLS, names
    create = next(t for t in tools.tools if t.name == "create")
    assert create.input_schema["required"] == ["repo"], create.input_schema
    assert "mode" in create.input_schema["properties"], create.input_schema

    # A bad directory is a tool error with message and hint; the server keeps serving.
    bad = await session.call_tool("info", {"dir": os.path.join(repo, "no-such-dir")})
    assert bad.is_error, bad
    assert "does not exist" in text_of(bad) and "hint:" in text_of(bad), text_of(bad)
    assert bad.structured_content["error"]["kind"] == "usage", bad.structured_content
    relative = await session.call_tool("info", {"dir": "relative/dir"})
    assert relative.is_error and "absolute" in text_of(relative), text_of(relative)
    listed = await call(session, "list", {})
    assert isinstance(listed.structured_content["sessions"], list)

    preview = await call(session, "plan", {"dir": repo, "intent": "create", "branch": "mcp-journey"})
    assert preview.structured_content["changes"] is True, preview.structured_content

    progress = []

    async def on_progress(value, total, message):
        progress.append(message)

    created = await call(
        session, "create", {"repo": repo, "branch": "mcp-journey"}, progress_callback=on_progress
    )
    assert progress, "create sent no progress notifications"
    s = created.structured_content["session"]
    assert s["status"] == "running", s
    assert s["branch"] == "mcp-journey", s
    d = s["dir"]
    assert text_of(created).startswith(f"create: {d} running"), text_of(created)

    info = await call(session, "info", {"dir": d})
    assert info.structured_content["session"]["dir"] == d
    env = await call(session, "env", {"dir": d})
    vars_ = env.structured_content["vars"]
    assert "WEB_PORT" in vars_ and "ECHO_PORT" in vars_, vars_
    # The web port's name through the proxy, in the variables and the one-line summary.
    assert vars_["WEB_URL"].startswith("http://web.mcp-journey."), vars_
    assert f"WEB_URL={vars_['WEB_URL']}" in text_of(created), text_of(created)
    logs = await call(session, "logs", {"dir": d, "service": "web", "lines": 5})
    assert isinstance(logs.structured_content["logs"], str)
    plan = await call(session, "plan", {"dir": d})
    assert plan.structured_content["changes"] is False, plan.structured_content
    plan_destroy = await call(session, "plan", {"dir": d, "intent": "destroy"})
    assert plan_destroy.structured_content["changes"] is True, plan_destroy.structured_content
    unknown = await session.call_tool("destroy", {"dir": d, "forse": True})
    assert unknown.is_error and "forse" in text_of(unknown), text_of(unknown)

    print(json.dumps({"dir": d, "vars": vars_}), flush=True)
    # The Rust side checks the ports answer before we destroy: wait for its go-ahead.
    await anyio.to_thread.run_sync(sys.stdin.readline)

    destroyed = await call(session, "destroy", {"dir": d})
    assert destroyed.structured_content["changes"] is True
    after = await call(session, "list", {"all": True})
    assert all(x["dir"] != d for x in after.structured_content["sessions"]), after.structured_content
    print(json.dumps({"destroyed": d}), flush=True)


async def cancel(session, repo):
    progress = []
    with anyio.CancelScope() as scope:

        async def on_progress(value, total, message):
            progress.append(message)
            if message and "wait until ready" in message:
                scope.cancel()

        result = await session.call_tool(
            "create", {"repo": repo, "branch": "mcp-cancel"}, progress_callback=on_progress
        )
        raise AssertionError(f"create was not cancelled: {text_of(result)}")
    assert scope.cancelled_caught, progress
    # The server sent SIGINT to create, which rolls back: the worktree and the containers go.
    worktree = os.path.join(os.path.dirname(repo), os.path.basename(repo) + "-sessions", "mcp-cancel")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        listed = await call(session, "list", {"all": True})
        mine = [x for x in listed.structured_content["sessions"] if x["dir"].startswith(os.path.dirname(repo))]
        if not mine and not os.path.exists(worktree):
            print(json.dumps({"rolled_back": worktree}), flush=True)
            return
        await anyio.sleep(0.5)
    raise AssertionError(f"no rollback within 90 s after the cancel: {mine}, {os.path.exists(worktree)}")


async def main():
    binary, mode, repo = sys.argv[1:4]
    # The server's own directory is irrelevant: every path argument is absolute.
    params = StdioServerParameters(command=binary, args=["mcp"], cwd="/")
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "dev-prism", init.server_info
            assert init.capabilities.tools is not None, init.capabilities
            await {"journey": journey, "cancel": cancel}[mode](session, repo)


if __name__ == "__main__":
    anyio.run(main)
