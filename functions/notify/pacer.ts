// Pacing of webhook posts: Slack's incoming webhooks accept about one message per second
// (short bursts tolerated, then HTTP 429 with Retry-After). The notifier runs with reserved
// concurrency 1, so one container posts at a time; this pacer spaces that container's posts,
// retries included, across warm invocations, and holds off for as long as a 429 asked.
//
// API
//   createPacer(intervalMs, clock?) -> Pacer
//   Pacer.acquire(maxWaitMs?) -> Promise<boolean>: waits for the next slot and takes it;
//     false, without waiting, when the slot is more than maxWaitMs away (the caller fails the
//     invocation instead, so Lambda retries it later and nothing is lost)
//   Pacer.holdOff(ms): no post before now + ms (Slack's Retry-After)
//   SLACK_WEBHOOK_INTERVAL_MS, NO_PACING

export interface Pacer {
  acquire(maxWaitMs?: number): Promise<boolean>;
  holdOff(ms: number): void;
}

export interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Slack: "1 message per second" per incoming webhook. */
export const SLACK_WEBHOOK_INTERVAL_MS = 1000;

const realClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

export function createPacer(intervalMs: number, clock: PacerClock = realClock): Pacer {
  let nextAt = Number.NEGATIVE_INFINITY; // earliest start of the next post
  let queue: Promise<unknown> = Promise.resolve(); // callers take their slots one at a time

  return {
    acquire(maxWaitMs = Number.POSITIVE_INFINITY): Promise<boolean> {
      const turn = queue.then(async () => {
        // setTimeout may fire a millisecond early: wait until the clock really got there.
        for (;;) {
          const wait = nextAt - clock.now();
          if (wait <= 0) break;
          if (wait > Math.max(0, maxWaitMs)) return false;
          await clock.sleep(Math.ceil(wait));
        }
        nextAt = clock.now() + intervalMs;
        return true;
      });
      queue = turn.catch(() => undefined);
      return turn;
    },
    holdOff(ms: number): void {
      nextAt = Math.max(nextAt, clock.now() + ms);
    },
  };
}

/** For callers that must not pace (tests of other behaviour). */
export const NO_PACING: Pacer = {
  acquire: () => Promise.resolve(true),
  holdOff: () => {},
};
