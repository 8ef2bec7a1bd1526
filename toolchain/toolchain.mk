# Makefile fragment for the Pulumi toolchain (issue 3); the top-level Makefile
# includes it with `include toolchain/toolchain.mk`.
#
#   make toolchain    hermetic mode: build the pinned pulumi CLI, Python language
#                     host and providers into $(SLIPWAY_CACHE)/toolchain/<key>/bin
#                     (a no-op in seconds when already built); standard mode (a
#                     pulumi on PATH, see scripts/env.sh): nothing to build

TOOLCHAIN_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: toolchain
toolchain:
	bash $(TOOLCHAIN_MK_DIR)ensure.sh
