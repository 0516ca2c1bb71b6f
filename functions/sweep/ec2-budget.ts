// The approver's share of the account's DescribeInstances budget (EC2 throttles it per account
// with a token bucket shared by the cloud controller, Karpenter and autoscalers). One bucket per
// container; the approver runs one container at a time (reserved concurrency 1), so this bounds
// the whole account: at most `60 × rate + burst` calls a minute, in every mode.

export interface Ec2BudgetStats {
  calls: number;
  waitedMs: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly stats: Ec2BudgetStats = { calls: 0, waitedMs: 0 };

  constructor(
    private ratePerSecond: number,
    private burst: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = clock();
  }

  /** Takes effect at once; tokens already saved are kept up to the new burst. */
  configure(ratePerSecond: number, burst: number): void {
    this.refill();
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
  }

  /** Milliseconds to wait before the next call may go (0: now); the token is spent. */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    this.stats.calls += 1;
    const wait = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
    this.stats.waitedMs += wait;
    return wait;
  }

  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/** The container's bucket (configured from `sweep.describeInstancesPerSecond` / `sweep.describeInstancesBurst`). */
export const ec2Budget = new TokenBucket(5, 20);
