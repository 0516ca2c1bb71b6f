// The approver's share of the account's DescribeInstances budget. EC2 throttles
// DescribeInstances per account and region with a token bucket (published: burst 100, refill
// 20 a second), shared by everything in the account: the cloud controller, Karpenter, autoscalers,
// consoles. The approver takes a share of it (sweep.describeInstancesPerSecond,
// sweep.describeInstancesBurst): one bucket per region (all EC2 calls go out with the Lambda's own
// credentials, so one account), kept for the container's life and passed to every sweep and
// watch (Ec2Budgets). The approver runs one container at a time (reserved concurrency 1), so this
// bounds the whole account: at most `burst + rate × t` calls in any t seconds, in every mode.
//
// AIMD: a throttling answer (RequestLimitExceeded, ThrottlingException) halves the share and
// empties the saved tokens (EC2 is telling us the account's bucket is empty: no burst into it);
// each call that goes through adds back a tenth of the configured rate, up to it.

export interface Ec2BudgetStats {
  calls: number;
  waitedMs: number;
  /** Throttling answers seen (every attempt, the SDK's retries included). */
  throttled: number;
  /** The lowest share (calls a second) the throttling pushed the bucket to; the configured rate if none. */
  lowestRatePerSecond: number;
}

/** The least share AIMD goes down to: one call every 10 s still reaches a recovered EC2. */
export const MIN_RATE_PER_SECOND = 0.1;
const INCREASE_FRACTION = 0.1;

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** The share now (AIMD moves it between MIN_RATE_PER_SECOND and the configured rate). */
  private rate: number;
  readonly stats: Ec2BudgetStats;

  constructor(
    private ceiling: number,
    private burst: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = clock();
    this.rate = ceiling;
    this.stats = { calls: 0, waitedMs: 0, throttled: 0, lowestRatePerSecond: ceiling };
  }

  /** Takes effect at once; tokens already saved are kept up to the new burst, a throttled share stays lowered. */
  configure(ratePerSecond: number, burst: number): void {
    this.refill();
    this.ceiling = ratePerSecond;
    this.rate = Math.min(this.rate, ratePerSecond);
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  get ratePerSecond(): number {
    return this.rate;
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Milliseconds until a call could go without waiting (0: a token is there now). Spends nothing. */
  msUntilToken(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }

  /** Milliseconds to wait before the next call may go (0: now); the token is spent. */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    this.stats.calls += 1;
    const wait = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
    this.stats.waitedMs += wait;
    return wait;
  }

  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** EC2 answered "throttled": halve the share, and no saved burst goes into an empty account bucket. */
  throttled(): void {
    this.refill();
    this.stats.throttled += 1;
    this.rate = Math.max(MIN_RATE_PER_SECOND, Math.min(this.rate, this.ceiling) / 2);
    this.tokens = Math.min(this.tokens, 0);
    this.stats.lowestRatePerSecond = Math.min(this.stats.lowestRatePerSecond, this.rate);
  }

  /** A call went through: the share grows back by a tenth of the configured rate. */
  succeeded(): void {
    if (this.rate >= this.ceiling) return;
    this.refill();
    this.rate = Math.min(this.ceiling, this.rate + this.ceiling * INCREASE_FRACTION);
  }
}

/** The error names EC2 (and the SDK) give a throttled call. */
export function isThrottling(err: unknown): boolean {
  const name = (err as { name?: unknown; Code?: unknown } | null)?.name;
  return name === "RequestLimitExceeded" || name === "ThrottlingException" || name === "Throttling";
}

/** One bucket per region of the approver's account, created on first use with the configured share. */
export class Ec2Budgets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private ratePerSecond: number,
    private burst: number,
    private readonly clock?: () => number,
  ) {}

  configure(ratePerSecond: number, burst: number): void {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    for (const bucket of this.buckets.values()) bucket.configure(ratePerSecond, burst);
  }

  forRegion(region: string): TokenBucket {
    let bucket = this.buckets.get(region);
    if (!bucket) {
      bucket = new TokenBucket(this.ratePerSecond, this.burst, this.clock);
      this.buckets.set(region, bucket);
    }
    return bucket;
  }

  /** The lowest share (calls a second) any region's bucket is at now. */
  currentRate(): number {
    return Math.min(this.ratePerSecond, ...[...this.buckets.values()].map((b) => b.ratePerSecond));
  }

  /** All regions' counts added up; the lowest share any region was pushed to. */
  stats(): Ec2BudgetStats {
    const total: Ec2BudgetStats = {
      calls: 0,
      waitedMs: 0,
      throttled: 0,
      lowestRatePerSecond: this.ratePerSecond,
    };
    for (const bucket of this.buckets.values()) {
      total.calls += bucket.stats.calls;
      total.waitedMs += bucket.stats.waitedMs;
      total.throttled += bucket.stats.throttled;
      total.lowestRatePerSecond = Math.min(total.lowestRatePerSecond, bucket.stats.lowestRatePerSecond);
    }
    return total;
  }
}
