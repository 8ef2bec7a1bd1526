"""Programs that Pulumi command resources execute; they read secrets from stdin only."""
