"""fargate-lab: sim."""
