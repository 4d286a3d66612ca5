"""The documentation a person who clones the repository reads stands on its own and is current.

- ``docs/api.md`` is what ``cti/api/reference.py`` makes of the current routes and events (run
  ``.venv/bin/python -m cti.api.reference > docs/api.md`` after changing them);
- every file path the README and ``docs/`` name exists in the repository, and nothing points
  outside it (the team's working notes are not part of a clone);
- the LICENSE file is the license pyproject.toml declares.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
PATHLIKE = re.compile(r"`((?:cti|connectors|pivot|softphone_bridge|sip_test_env|tests|bench|docs|examples)/"
                      r"[A-Za-z0-9_./-]*)`")


def test_the_api_reference_is_generated_from_the_current_routes() -> None:
    from cti.api.reference import current

    written = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert written == current(), ("docs/api.md is out of date: run "
                                  "`.venv/bin/python -m cti.api.reference > docs/api.md`")


def test_every_path_the_docs_name_exists() -> None:
    missing = []
    for page in PAGES:
        for line_no, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for path in PATHLIKE.findall(line):
                if not (ROOT / path.rstrip(".")).exists():
                    missing.append(f"{page.relative_to(ROOT)}:{line_no}: {path}")
    assert not missing, "the docs name files that are not in the repository:\n" + "\n".join(missing)


def test_nothing_points_outside_the_repository() -> None:
    outside = [f"{page.relative_to(ROOT)}: {hit}" for page in PAGES
               for hit in re.findall(r"\]\(\.\./[^)]*\)|\.\./shared\b|\bshared/(?:API|DESIGN|CONVENTIONS)\.md",
                                     page.read_text(encoding="utf-8"))]
    assert not outside, "\n".join(outside)


def test_the_license_file_is_the_declared_license() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert declared == "Apache-2.0" and "Apache License" in text and "Version 2.0, January 2004" in text
