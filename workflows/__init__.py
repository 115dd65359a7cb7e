"""Deterministic orchestration: ParentWorkflow (the DAG) and TerraformWorkflow (one workspace)."""
