"""Run the E3D authors' own search for a fixed wall-clock time and print its result as one JSON line.

Needs a checkout of alibaba/lightweight-neural-architecture-search and a Python that can import it
(it ships its own trimmed ``modelscope``; add torch, thop, filelock, addict, yapf); bench_search.py runs
it so when given ``--authors-src``:

    cd <checkout> && PYTHONPATH=. python <e3dnas>/experiments/authors_search.py \
        configs/action_recognition/E3D_X3DS_FLOPs.py --seconds 60 --work-dir <dir>

Nothing of theirs is changed: the search is built with their builder and stopped through its own
termination test (their candidate target is set to 0 when the time is up, so it stops at the next step
of 25 candidates and writes its usual exports). Only the evaluation call is wrapped, to count candidates.
"""

from __future__ import annotations

import argparse
import json
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="their search config, relative to the checkout")
    parser.add_argument("--seconds", type=float, default=60.0, help="search time after start-up")
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()

    from tinynas.searchers import build_searcher  # the authors' package

    searcher = build_searcher(
        default_args={"cfg_file": args.config, "cfg_options": {"work_dir": args.work_dir}}
    )
    evaluated = 0
    evaluate = searcher.strategy.get_info_for_evolution

    def counting(structure_info=None):
        nonlocal evaluated
        evaluated += 1
        return evaluate(structure_info=structure_info)

    searcher.strategy.get_info_for_evolution = counting
    timer = threading.Timer(args.seconds, lambda: setattr(searcher.synchonizer, "num_random_nets", 0))
    timer.daemon = True
    start = time.perf_counter()
    timer.start()
    searcher.search_loop()
    seconds = time.perf_counter() - start
    searcher.export_result()
    best = searcher.popu_nas.get_individual_info(idx=0, is_struct=True)
    stages = [block for block in best["structure"] if "L" in block]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "evaluated": evaluated,
                "best_score": float(best["score"]),
                "best_flops": float(best["flops"]),
                "best_layers": int(best["layers"]),
                "stages": [[b["out"], b["btn"], b["kt"], b["k"], b["L"]] for b in stages],
            }
        )
    )


if __name__ == "__main__":
    main()
