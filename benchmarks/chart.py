"""The chart of benchmarks/results.json: latency of one append and of reading history
against the session's history length, this project and the LangChain peer. Runs in the
benchmark's environment (matplotlib); writes benchmarks/history_latency.png."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent


def main() -> None:
    figures = json.loads((HERE / "results.json").read_text())["messages"]
    ours = figures["latency"]
    peer = figures.get("peer_langchain") or {}
    sizes = sorted(int(size) for size in ours)
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot(sizes, [ours[str(s)]["append_ms"] for s in sizes], "o-", label="Agent Sessions: append")
    axes.plot(sizes, [ours[str(s)]["history_desc_ms"] for s in sizes], "s-", label="Agent Sessions: history page")
    working = [s for s in sizes if (peer.get(str(s)) or {}).get("append_ms") is not None]
    if working:
        axes.plot(working, [peer[str(s)]["append_ms"] for s in working], "o--", label="LangChain: append")
        axes.plot(working, [peer[str(s)]["history_ms"] for s in working], "s--", label="LangChain: history")
    for size in sizes:
        row = peer.get(str(size)) or {}
        if row.get("append_ms") is None and row.get("failed_at_messages") is not None:
            axes.axvline(row["failed_at_messages"], color="red", linestyle=":", alpha=0.7)
            axes.annotate(
                f"LangChain fails at {row['failed_at_messages']} messages\n(400 KB item limit)",
                (row["failed_at_messages"], axes.get_ylim()[1] * 0.8),
                color="red",
                fontsize=8,
            )
            break
    axes.set_xscale("log")
    axes.set_xlabel("messages already in the session")
    axes.set_ylabel("median latency (ms, DynamoDB Local)")
    axes.set_title("Latency against history length")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(HERE / "history_latency.png", dpi=120)
    print(f"wrote {HERE / 'history_latency.png'}")


if __name__ == "__main__":
    main()
