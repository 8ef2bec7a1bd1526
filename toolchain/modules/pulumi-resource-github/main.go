// slipway's own main for pulumi-resource-github. The upstream main embeds a
// schema-embed.json that is generated at release time and is not in the
// module zip; build.sh writes it next to this file from the module's
// committed schema.json (see ../_shared/schemaembed).
package main

import (
	_ "embed"

	github "github.com/pulumi/pulumi-github/provider/v6"
	"github.com/pulumi/pulumi-github/provider/v6/pkg/version"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("github", version.Version, github.Provider(), pulumiSchema)
}
