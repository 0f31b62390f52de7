"""The checked-in code under mtl/v1 is exactly what proto/ generates."""

from __future__ import annotations

from mtl_service.protogen import drifted_files


def test_generated_code_matches_the_protos() -> None:
    assert drifted_files() == [], "run `make proto` and commit the result"
