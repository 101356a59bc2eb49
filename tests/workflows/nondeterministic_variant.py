"""A deliberately non-deterministic change: the risk workflow under its durable name, skipping the
precompute activity. Replaying a history recorded by the real workflow with it must fail."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agents.risk_agent import risk_prompt
    from workflows.payloads import RISK_WORKFLOW, RiskAssessmentOutcome, RiskAssessmentRequest
    from workflows.workflows import RiskAssessmentWorkflow, risk_agent_durable


@workflow.defn(name=RISK_WORKFLOW)
class RiskAssessmentWithoutPrecompute(RiskAssessmentWorkflow):
    @workflow.run
    async def run(self, request: RiskAssessmentRequest) -> RiskAssessmentOutcome:
        snapshot = await self._load_snapshot(self._as_of(request))
        deps = request.deps(snapshot.snapshot_id, snapshot.as_of)
        await self._run_agent(risk_agent_durable, risk_prompt(deps), deps, request.model)
        raise AssertionError("replay fails before this point")
