"""The agents' toolset: a `FunctionToolset` whose every result is pseudonymised before the model sees it.

It stays a `FunctionToolset` (same id, same tools), so the Temporal integration runs each call as the same
durable activity; the pseudonymising happens inside `call_tool`, that is inside the activity, so the
activity's result in the workflow history holds no customer name, email or phone number either.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_ai import RunContext
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from agents.deps import AnalysisDeps
from agents.privacy import pseudonymiser_for
from agents.snapshots import snapshots

DepsT = TypeVar("DepsT", bound=AnalysisDeps)


class PrivateToolset(FunctionToolset[DepsT]):
    """Tools over a portfolio snapshot whose results reach the model with personal data pseudonymised."""

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[DepsT],
        tool: ToolsetTool[DepsT],
    ) -> Any:
        result = await super().call_tool(name, tool_args, ctx, tool)
        portfolio = await snapshots.get(ctx.deps.snapshot_id)
        pseudonymiser = pseudonymiser_for(portfolio, ctx.deps.snapshot_id)
        if isinstance(result, BaseModel):
            return pseudonymiser.model(result)
        return pseudonymiser.value(result)
