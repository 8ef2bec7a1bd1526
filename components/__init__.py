"""One Pulumi ComponentResource per concern of a release pipeline."""
