import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../functions/sweep/ec2-budget.js";

describe("TokenBucket: the approver's DescribeInstances budget", () => {
  it("lets a burst through at once, then paces at the rate", () => {
    let now = 0;
    const bucket = new TokenBucket(5, 20, () => now);
    const waits = Array.from({ length: 25 }, () => bucket.reserve());
    expect(waits.slice(0, 20)).toEqual(Array(20).fill(0));
    expect(waits.slice(20)).toEqual([200, 400, 600, 800, 1000]);
    now = 10_000; // idle: the bucket refills, never beyond its size
    expect(Array.from({ length: 21 }, () => bucket.reserve()).filter((w) => w > 0)).toHaveLength(1);
    expect(bucket.stats.calls).toBe(46);
  });

  it("bounds the calls of any minute by 60 × rate + burst", () => {
    let now = 0;
    const bucket = new TokenBucket(5, 20, () => now);
    let started = 0;
    // A caller that calls whenever it may: each call goes at now + its wait.
    for (let t = 0; t < 60_000;) {
      const wait = bucket.reserve();
      t += wait;
      now = t;
      if (t < 60_000) started++;
    }
    expect(started).toBeLessThanOrEqual(60 * 5 + 20);
    expect(started).toBeGreaterThanOrEqual(60 * 5 + 20 - 1);
  });

  it("takes a new rate at once and keeps no more saved tokens than the new burst", () => {
    const now = 0;
    const bucket = new TokenBucket(5, 20, () => now);
    bucket.configure(1, 2);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 1000]);
  });
});
