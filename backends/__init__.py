"""fargate-lab: backends."""
