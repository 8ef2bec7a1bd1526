# Makefile fragment for the Pulumi toolchain (issue 3); the top-level Makefile
# includes it with `include toolchain/toolchain.mk`.
#
#   make toolchain    build the pinned pulumi CLI, Python language host and
#                     providers into $(SLIPWAY_CACHE)/toolchain/<key>/bin
#                     (a no-op in seconds when already built)

TOOLCHAIN_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: toolchain
toolchain:
	bash $(TOOLCHAIN_MK_DIR)build.sh
