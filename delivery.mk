# Makefile fragment for delivery (issue 5): workflows, plan comment, rollback.
# The top-level Makefile includes it with `-include delivery.mk`; it uses that Makefile's $(PY).
#
#   make actionlint       lint .github/workflows with actionlint (built from the Go proxy, cached)
#   make delivery-test    the delivery tests (unit, sandbox and, with the toolchain, end to end)
#   make rollback STACK=prod [TO=<sha>] [ARGS=--preview-only]
#                         `slipway rollback` with the toolchain on PATH

.PHONY: actionlint delivery-test rollback

actionlint:
	bash .github/actionlint.sh

delivery-test: venv
	$(PY) -m pytest -q tests/delivery

rollback: venv
	@test -n "$(STACK)" || { echo "usage: make rollback STACK=<stack> [TO=<sha>] [ARGS=...]" >&2; exit 2; }
	source scripts/env.sh && $(PY) -m slipway.delivery.rollback --stack "$(STACK)" \
		$(if $(TO),--to "$(TO)") $(ARGS)
