import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createAwsClients } from "../../functions/sweep/aws.js";
import {
  Ec2Budgets,
  isThrottling,
  MIN_RATE_PER_SECOND,
  TokenBucket,
} from "../../functions/sweep/ec2-budget.js";
import { describeInstancesForNodes } from "../../functions/sweep/facts.js";

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

  it("says how long until a token is there, without spending it", () => {
    let now = 0;
    const bucket = new TokenBucket(5, 2, () => now);
    expect(bucket.msUntilToken()).toBe(0);
    bucket.reserve();
    bucket.reserve();
    expect(bucket.msUntilToken()).toBe(200);
    expect(bucket.msUntilToken()).toBe(200);
    now = 200;
    expect(bucket.msUntilToken()).toBe(0);
    expect(bucket.stats.calls).toBe(2);
  });

  it("AIMD: a throttle halves the share and drops the saved burst; successes add it back a tenth at a time", () => {
    const now = 0;
    const bucket = new TokenBucket(4, 20, () => now);
    bucket.throttled();
    expect(bucket.ratePerSecond).toBe(2);
    expect(bucket.msUntilToken()).toBe(500); // no burst into an account bucket EC2 says is empty
    bucket.throttled();
    expect(bucket.ratePerSecond).toBe(1);
    for (let i = 0; i < 100; i++) bucket.throttled();
    expect(bucket.ratePerSecond).toBe(MIN_RATE_PER_SECOND);
    expect(bucket.stats).toMatchObject({ throttled: 102, lowestRatePerSecond: MIN_RATE_PER_SECOND });
    for (let i = 0; i < 5; i++) bucket.succeeded();
    expect(bucket.ratePerSecond).toBeCloseTo(2.1);
    for (let i = 0; i < 50; i++) bucket.succeeded();
    expect(bucket.ratePerSecond).toBe(4);
    // A new configuration does not undo a throttled share, and caps it.
    bucket.throttled();
    bucket.configure(10, 20);
    expect(bucket.ratePerSecond).toBe(2);
    bucket.configure(1, 20);
    expect(bucket.ratePerSecond).toBe(1);
  });

  it("knows EC2's throttling answers", () => {
    expect(isThrottling(Object.assign(new Error("x"), { name: "RequestLimitExceeded" }))).toBe(true);
    expect(isThrottling(Object.assign(new Error("x"), { name: "ThrottlingException" }))).toBe(true);
    expect(isThrottling(Object.assign(new Error("x"), { name: "UnauthorizedOperation" }))).toBe(false);
    expect(isThrottling(undefined)).toBe(false);
  });

  it("Ec2Budgets: one bucket per region, configured together", () => {
    const now = 0;
    const budgets = new Ec2Budgets(5, 1, () => now);
    expect(budgets.forRegion("eu-west-1")).toBe(budgets.forRegion("eu-west-1"));
    expect(budgets.forRegion("us-east-1")).not.toBe(budgets.forRegion("eu-west-1"));
    budgets.forRegion("eu-west-1").reserve();
    expect(budgets.forRegion("us-east-1").reserve()).toBe(0); // another region's bucket
    budgets.forRegion("us-east-1").throttled();
    expect(budgets.stats()).toMatchObject({ calls: 2, throttled: 1, lowestRatePerSecond: 2.5 });
    budgets.configure(2, 1);
    expect(budgets.forRegion("ap-south-1").ratePerSecond).toBe(2);
    expect(budgets.forRegion("eu-west-1").ratePerSecond).toBe(2);
  });
});

describe("DescribeInstances through the bucket (loopback EC2)", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it("every throttled attempt (the SDK's retries too) shrinks the share; the answer still arrives", async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      if (hits <= 2) {
        res.writeHead(503, { "content-type": "text/xml" });
        res.end(
          "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>x</RequestID></Response>",
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/xml" });
      res.end(
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>y</requestId><reservationSet/></DescribeInstancesResponse>',
      );
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const aws = createAwsClients({
      endpoint,
      credentials: { accessKeyId: "A", secretAccessKey: "s" },
      maxAttempts: 4,
    });
    const budget = new TokenBucket(8, 10);
    const found = await describeInstancesForNodes(
      aws.forRegion("eu-west-1").ec2,
      [{ node: "i-0123456789abcdef0" }],
      "eu-west-1",
      { budget },
    );
    expect(found).toEqual([]);
    expect(hits).toBe(3);
    expect(budget.stats).toMatchObject({ calls: 1, throttled: 2, lowestRatePerSecond: 2 });
    expect(budget.ratePerSecond).toBeCloseTo(2.8); // and one success added a tenth back
    aws.destroy();
  });
});
