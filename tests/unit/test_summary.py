"""`slipway summary`: a stack's outputs in a few lines a person reads."""

from __future__ import annotations

from slipway.delivery.summary import render_summary

SHA, OLD = "3f6c1c1e9a7b4d2e8f0a1b2c3d4e5f60718293a4", "9a8b7c6d5e4f30211234567890abcdef12345678"


def test_summary_names_image_steps_deploys_and_url() -> None:
    outputs = {
        "deployedSha": SHA, "releaseMode": "build", "replacedSha": OLD,
        "images": {"backend": f"r/app:local-{SHA}@sha256:{'ab' * 32}",
                   "frontend": f"r/web:local-{SHA}@sha256:x"},
        "migrationSteps": ["python manage.py migrate_schemas --shared --fake-initial",
                           "python manage.py create_super_tenant --no-input"],
        "githubEnvironment": "local-backend", "githubSecretNames": ["DATABASE_URL", "SECRET_KEY"],
        "appUrl": "http://127.0.0.1:8000/", "databaseUrl": "[secret]",
    }
    assert render_summary("local", outputs) == "\n".join([
        f"local: runs {SHA} (built from the checkout), replacing {OLD}",
        f"  image     backend: r/app:local-{SHA}@sha256:{'ab' * 32}",
        f"  image     frontend: r/web:local-{SHA}@sha256:x",
        "  migration 2 steps, in order:",
        "            1. python manage.py migrate_schemas --shared --fake-initial",
        "            2. python manage.py create_super_tenant --no-input",
        "  deployed  backend, frontend (each health-gated)",
        "  github    environment local-backend: DATABASE_URL, SECRET_KEY",
        "  app URL   http://127.0.0.1:8000/",
    ])
    assert "secret]" not in render_summary("local", outputs)


def test_summary_of_a_stack_never_deployed() -> None:
    assert render_summary("dev", {}) == "dev: nothing deployed yet"
