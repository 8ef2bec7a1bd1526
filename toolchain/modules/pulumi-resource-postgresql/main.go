// slipway's own main for pulumi-resource-postgresql (see the github wrapper
// for why: the upstream main embeds a release-time schema-embed.json).
package main

import (
	_ "embed"

	postgresql "github.com/pulumi/pulumi-postgresql/provider/v3"
	"github.com/pulumi/pulumi-postgresql/provider/v3/pkg/version"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("postgresql", version.Version, postgresql.Provider(), pulumiSchema)
}
