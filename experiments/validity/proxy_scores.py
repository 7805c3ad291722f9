"""One proxy on the study's architectures: ``python -m experiments.validity.proxy_scores NAME ARCH… --out F``.

Run by run.py as a job of its pool (one process per proxy and task, so torch's import and the proxy's
batch are paid once). Writes ``{arch file stem: {"score": s, "seconds": wall s}}`` as JSON.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

from e3dnas.arch import load_arch
from e3dnas.atomic import atomic_write_text
from e3dnas.proxies.scorer import PROXY_SCORERS


def takes_data(name: str) -> bool:
    """Whether the proxy reads real clips (``data_root``) rather than only its stand-in input."""
    return "data_root" in inspect.signature(PROXY_SCORERS[name]).parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(PROXY_SCORERS))
    parser.add_argument("archs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-root", help="class folders of training videos (data-dependent proxies)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    options = {"device": args.device}
    if takes_data(args.name):
        options["data_root"] = args.data_root
    scorer = PROXY_SCORERS[args.name](**options)
    out = {}
    for path in args.archs:
        started = time.perf_counter()
        score = scorer.score(load_arch(path))
        out[path.stem] = {"score": score, "seconds": time.perf_counter() - started}
    atomic_write_text(args.out, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
