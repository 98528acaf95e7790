"""fargate-lab: policies."""
