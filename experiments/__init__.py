"""fargate-lab: experiments."""
