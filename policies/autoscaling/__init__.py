"""fargate-lab: policies/autoscaling."""
