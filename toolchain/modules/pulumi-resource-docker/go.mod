module slipway.local/toolchain/pulumi-resource-docker

go 1.25.9

require (
	// = pulumi-docker v5.1.0 (commit e944612c4c970123d9a16a48c40d37dc84c89a70)
	github.com/pulumi/pulumi-docker/provider/v5 v5.0.0-20260626165050-e944612c4c97
	github.com/terraform-providers/terraform-provider-docker v0.0.0
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.133.0
	github.com/pulumi/pulumi/pkg/v3 v3.246.0
)

// upstream's `=> ../upstream`: build.sh copies kreuzwerker/terraform-provider-docker
// (v4.5.0 = 5074970c) out of the module cache into ./upstream and adds the
// shim package from ./shim (the provider imports .../terraform-provider-docker/shim).
replace github.com/terraform-providers/terraform-provider-docker => ./upstream

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
