module slipway.local/toolchain/pulumi-resource-command

go 1.25.0

tool github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command

// = pulumi-command v1.2.1 (commit 7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25).
// The upstream module has no replace directives.
require github.com/pulumi/pulumi-command/provider v0.0.0-20260303235922-7f3eb6f3b77c
