// slipway's own main for pulumi-resource-docker. Like upstream's, it serves
// the hybrid provider (native Image resource + bridged resources) through
// provider.Serve, with the schema that build.sh writes to schema-embed.json.
package main

import (
	_ "embed"

	provider "github.com/pulumi/pulumi-docker/provider/v5"
	"github.com/pulumi/pulumi-docker/provider/v5/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	provider.Serve("docker", version.Version, pulumiSchema)
}
