"""Side effects that Temporal retries: terraform runs, alerts and drift records."""
