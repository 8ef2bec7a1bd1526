module slipway.local/toolchain/pulumi-resource-github

go 1.26

require (
	// = pulumi-github v6.15.0 (commit e46c2bbdc297d05a418b40af162f1da43547819a)
	github.com/pulumi/pulumi-github/provider/v6 v6.0.0-20260814162548-e46c2bbdc297
	// upstream's `=> ../upstream` (a submodule at the v6.13.0 tag, no patches)
	github.com/integrations/terraform-provider-github/v6 v6.13.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.137.0
	github.com/pulumi/pulumi/pkg/v3 v3.256.0
)

// Non-relative replaces repeated from the provider's go.mod.
replace github.com/hashicorp/terraform-exec => github.com/hashicorp/terraform-exec v0.15.0

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
