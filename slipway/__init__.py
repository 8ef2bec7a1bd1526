"""slipway: deployment pipelines as code on Pulumi."""
