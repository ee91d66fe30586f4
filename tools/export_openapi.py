"""Write the service's OpenAPI document to `openapi/openapi.json` (or check that it is current).

    python tools/export_openapi.py           # rewrite openapi/openapi.json from the app
    python tools/export_openapi.py --check   # exit 1 if the committed file differs from the app's

The document is built by `app.api.openapi` from the registry and FastAPI's routes with the default
settings (it does not depend on them). `tests/openapi/test_document.py` fails when the committed
file and the app differ: run this script after changing a route, a parameter or the catalogue.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "openapi" / "openapi.json"


def render() -> str:
    """The document as committed: indented, keys in the app's order, a final newline."""
    sys.path.insert(0, str(ROOT))
    from app.main import create_api

    return json.dumps(create_api().openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH, help="where the document goes")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python tools/export_openapi.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
