module slipway.local/toolchain/pulumi-resource-postgresql

go 1.26.0

require (
	// = pulumi-postgresql v3.18.0 (commit b57d264d8aee0707e2c0135720c8e2115a9970d4)
	github.com/pulumi/pulumi-postgresql/provider/v3 v3.0.0-20260716141723-b57d264d8aee
	github.com/cyrilgdn/terraform-provider-postgresql v0.0.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.134.0
	github.com/pulumi/pulumi/pkg/v3 v3.251.0
)

// upstream's `=> ../upstream`: build.sh copies cyrilgdn/terraform-provider-postgresql
// (commit ff936b95, v1.27.0) out of the module cache into ./upstream and
// rewrites its module line (that is all pulumi's patch 0001 does).
replace github.com/cyrilgdn/terraform-provider-postgresql => ./upstream

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
