"""The throughput benchmark runs (at a few iterations; its numbers are measured, never asserted)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_throughput_benchmark_runs_every_cpu_contender_and_says_which_blocks_were_quiet():
    out = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--sizes", "32", "--iterations", "1",
                          "--repeats", "3", "--n-images", "64", "--skip", "trainer_compiled"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    row = json.loads(out.stdout)["sizes"]["32"]
    contenders = {"plain_loop", "trainer_fp32", "trainer_channels_last", "trainer", "trainer_recompute_fake",
                  "vmap_3_seeds", "two_processes"}
    assert set(row["images_per_s"]) == contenders | {"plain_loop_beside_two_processes"}
    assert all(v > 0 for v in row["images_per_s"].values()) and set(row["ratio_over_plain"]) == contenders
    ips = row["images_per_s"]
    assert abs(row["ratio_gan_helpers_over_plain"] - ips["trainer"] / ips["plain_loop"]) < 0.006
    assert set(row["quiet_blocks"]) == set(row["images_per_s"]) and all(len(b) == 3 for b in row["blocks"].values())
    assert row["canary_ms"]["uncontended_p10"] <= row["canary_ms"]["median"] <= row["canary_ms"]["max"]
