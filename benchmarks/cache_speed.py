"""The disk cache of decoded images (core/image_cache.py): how fast it is built, and how fast training batches are
read from it against the same batches from memory.

    python benchmarks/cache_speed.py                    # 10,000 images at 64 px
    python benchmarks/cache_speed.py --count 2000 --resolution 128

The images are the seeded shapes of benchmarks/shapes_data.py (32 px files, decoded and resized to the resolution,
as a folder of small files would be). Reading is `batch_for_step` for successive steps of a batch of 64 (a
random permutation per epoch, so random access), from memory and from the cache's mapping; "cold" reads after
the kernel dropped its page cache (needs root; skipped otherwise), "warm" ones from the page cache.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from shapes_data import make_shapes_images  # noqa: E402

from diffstudio.core.data import load_image_folder, run_to_end  # noqa: E402
from diffstudio.core.image_cache import read_cached_folder  # noqa: E402

BATCH = 64


def drop_page_cache() -> bool:
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def read_rate(dataset, steps: int) -> float:
    start = time.perf_counter()
    for step in range(steps):
        dataset.batch_for_step(step, BATCH, seed=0)
    return steps * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    steps = args.count // BATCH  # one epoch
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder, cache = Path(scratch) / "shapes", Path(scratch) / "cache"
        make_shapes_images(folder, args.count, seed=0)

        start = time.perf_counter()
        memory, _ = load_image_folder(folder, args.resolution)
        rows.append(("decode into memory", args.count / (time.perf_counter() - start)))
        start = time.perf_counter()
        run_to_end(read_cached_folder(folder, args.resolution, root=cache))
        rows.append(("build the cache", args.count / (time.perf_counter() - start)))
        start = time.perf_counter()
        cached, _ = run_to_end(read_cached_folder(folder, args.resolution, root=cache))
        rows.append(("open the built cache", args.count / (time.perf_counter() - start)))

        rows.append(("batches from memory", read_rate(memory, steps)))
        if drop_page_cache():
            rows.append(("batches from the cache, cold", read_rate(cached, steps)))
        rows.append(("batches from the cache, warm", read_rate(cached, steps)))
        size = sum(p.stat().st_size for p in cache.iterdir())
    print(f"{args.count:,} images at {args.resolution} px; cache {size / 2**20:.0f} MB; batches of {BATCH}, one epoch")
    print("| what | images/s |")
    print("|---|---:|")
    for what, rate in rows:
        print(f"| {what} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
