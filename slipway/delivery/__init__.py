"""Delivery: what runs around `pulumi up` in CI and at the terminal.

The PR plan comment (`plan_comment`), the rollback command (`rollback`), which stacks a branch
or a pull request touches (`stacks`). Rendering is pure; the modules that talk to GitHub, the
registry or the Pulumi CLI are separate and small. See README.md beside this file.
"""
