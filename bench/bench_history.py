"""History search benchmark: 100,000 synthetic pictures, then the searches the History tab makes, timed.

Rows are written through `history_index.insert_row` (the code every save uses), with English, Chinese and
mixed prompts, 12 checkpoints, LoRAs, 4 owners, sizes and a year of dates. Each search is one page of 50, newest
first, with its total count, as the tab and `GET /api/v1/history` ask. Target: under 100 ms each.

Run from the repository root::

    nice .venv/bin/python bench/bench_history.py [--rows 100000] [--workdir /tmp/bench-history]

The database is built once in --workdir and reused (delete it, or pass --rebuild, to start over).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modules.service.history import History, Query, parse_day  # noqa: E402
from modules.service.history_index import insert_row  # noqa: E402

ENGLISH = ("fox", "cat", "castle", "forest", "sunset", "portrait", "cyberpunk", "city", "rain", "neon", "dragon",
           "mountain", "river", "snow", "girl", "boy", "robot", "flower", "ocean", "ship", "lantern", "temple",
           "masterpiece", "best quality", "detailed", "watercolor", "oil painting", "cinematic lighting", "blue",
           "red", "golden", "misty", "ancient", "futuristic", "cozy", "library", "wolf", "owl", "garden", "bridge")
CHINESE = ("狐狸", "猫", "城堡", "森林", "日落", "肖像", "赛博朋克", "城市", "下雨", "霓虹", "龙", "山", "河流", "雪",
           "女孩", "机器人", "花", "大海", "灯笼", "寺庙", "杰作", "水彩", "蓝色的", "红色的", "古老的", "雾")
CHECKPOINTS = [f"model-{i:02d}" for i in range(12)]
LORAS = ("pastel", "detail-tweaker", "ink-style", "add_more_details", "sakura_v2")
OWNERS = ("alice", "bob", "carol", "dave")
SIZES = ((512, 512), (512, 768), (768, 512), (1024, 1024), (640, 384))
YEAR = 365 * 86400


def synthetic_infotext(rng: random.Random, i: int) -> tuple[str, tuple[int, int]]:
    words = rng.sample(ENGLISH, rng.randint(5, 14))
    if rng.random() < 0.3:
        words += rng.sample(CHINESE, rng.randint(2, 6))
    rng.shuffle(words)
    if rng.random() < 0.25:
        words.append(f"<lora:{rng.choice(LORAS)}:{rng.choice((0.5, 0.8, 1))}>")
    checkpoint = rng.choice(CHECKPOINTS)
    width, height = rng.choice(SIZES)
    text = (", ".join(words) + "\nNegative prompt: lowres, bad anatomy, blurry\n"
            f"Steps: {rng.randint(10, 40)}, Sampler: Euler a, CFG scale: 7, Seed: {rng.randint(0, 2**32 - 1)}, "
            f"Size: {width}x{height}, Model hash: {abs(hash(checkpoint)) % 10**10:010d}, Model: {checkpoint}, "
            "Version: v1")
    return text, (width, height)


def fill(history: History, rows: int, seed: int = 0) -> float:
    rng = random.Random(seed)
    now = time.time()
    started = time.perf_counter()
    batch = 5000
    for start in range(0, rows, batch):
        with history._tx() as db:
            for i in range(start, min(rows, start + batch)):
                owner = rng.choice(OWNERS)
                text, size = synthetic_infotext(rng, i)
                insert_row(db, f"{owner}/txt2img-images/{i // 1000:05d}/{i:06d}-{i}.png", text, owner=owner,
                           size=size, created=now - rng.random() * YEAR)
    return time.perf_counter() - started


def timed(history: History, query: Query, owner: str | None, page: int, repeats: int) -> tuple[float, float, int]:
    times = []
    total = 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = history.search(query, owner=owner, page=page, per_page=50)
        times.append((time.perf_counter() - started) * 1000)
        total = result.total
    return statistics.median(times), max(times), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-history")
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    history = History(args.workdir / "outputs", data_dir=args.workdir / "index")
    if args.rebuild:
        history.close()
        for name in ("history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"):
            (args.workdir / "index" / name).unlink(missing_ok=True)
    have = history.db.execute("SELECT count(*) FROM images").fetchone()[0]
    if have < args.rows:
        print(f"filling {args.rows - have:,} rows into {args.workdir / 'index'} ...", flush=True)
        seconds = fill(history, args.rows - have, seed=have)
        print(f"filled in {seconds:.1f} s ({(args.rows - have) / seconds:,.0f} rows/s)")
        history.db.execute("ANALYZE")
    rows = history.db.execute("SELECT count(*) FROM images").fetchone()[0]
    size_mb = sum(p.stat().st_size for p in (args.workdir / "index").glob("history.sqlite3*")) / 1e6
    print(f"{rows:,} rows, database {size_mb:.0f} MB\n")

    week_ago = time.time() - 7 * 86400
    cases = [
        ("newest page, everybody's (admin)", Query(), None, 1),
        ("page 100, everybody's", Query(), None, 100),
        ("one user's newest page", Query(), "alice", 1),
        ("text 'fox' (common word)", Query(text="fox"), None, 1),
        ("text 'blue fox' (two words)", Query(text="blue fox"), None, 1),
        ("text 'cinematic lighting' one user", Query(text="cinematic lighting"), "bob", 1),
        ("text 'zebra' (no match)", Query(text="zebra"), None, 1),
        ("text '赛博朋克' (Chinese, FTS)", Query(text="赛博朋克"), None, 1),
        ("text '狐狸' (Chinese 2 chars, LIKE)", Query(text="狐狸"), None, 1),
        ("text '猫' (1 char, LIKE) one user", Query(text="猫"), "carol", 1),
        ("checkpoint filter", Query(checkpoint="model-03"), None, 1),
        ("checkpoint + text", Query(text="dragon", checkpoint="model-07"), "dave", 1),
        ("LoRA filter", Query(lora="pastel"), None, 1),
        ("size + mode", Query(width=1024, height=1024, mode="txt2img"), None, 1),
        ("last 7 days + text", Query(text="castle", since=week_ago), None, 1),
        ("date range", Query(since=parse_day("2000-01-01"), until=time.time() - 300 * 86400), None, 1),
    ]
    print(f"{'search (page of 50 + total count)':44} {'median ms':>10} {'max ms':>8} {'matches':>9}")
    worst = 0.0
    for label, query, owner, page in cases:
        median, longest, total = timed(history, query, owner, page, args.repeats)
        worst = max(worst, median)
        print(f"{label:44} {median:10.1f} {longest:8.1f} {total:9,}")
    verdict = "meets" if worst < 100 else "MISSES"
    print(f"\nslowest median: {worst:.1f} ms -> {verdict} the 100 ms target")
    history.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
