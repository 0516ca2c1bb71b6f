// One cluster's event-mode state (functions/sweep/session.ts): what the watch retries and when,
// bounded per requester, and what a decided CSR's event changes.
import { describe, expect, it } from "vitest";
import { KUBELET_SERVING_SIGNER, type CsrObject } from "../../functions/core/types.js";
import type { ReadCsr } from "../../functions/sweep/csrs.js";
import { newSession } from "../../functions/sweep/session.js";

const T0 = Date.parse("2026-01-01T00:30:00Z");

function read(name: string, node: string, minute = 10): ReadCsr {
  const csr: CsrObject = {
    metadata: { name, uid: `uid-${name}`, creationTimestamp: `2026-01-01T00:${minute}:00Z` },
    spec: { signerName: KUBELET_SERVING_SIGNER, request: "", username: `system:node:${node}` },
  };
  return { csr };
}

const names = (reads: ReadCsr[]) => reads.map((r) => r.csr.metadata.name).sort();

describe("event-mode session", () => {
  it("retries CSRs decided `wait` at once, and those held by a budget only from the next period", () => {
    const session = newSession(true);
    session.startPeriodIfNone(T0, 60_000);
    const waiting = read("csr-wait", "a");
    const held = read("csr-held", "b");
    session.decided(waiting, true);
    session.holdForNextPeriod([held], 5);
    expect(names(session.retriesDue(T0 + 1_000))).toEqual(["csr-wait"]);
    expect(names(session.retriesDue(T0 + 60_000))).toEqual(["csr-held", "csr-wait"]);
    // Decided again (not `wait`): neither waiting nor held any more.
    session.decided(waiting, false);
    session.decided(held, false);
    expect(session.retriesDue(T0 + 60_000)).toEqual([]);
  });

  it("holds at most `perRequester` CSRs of a requester for the next period: its newest", () => {
    const session = newSession(true);
    session.startPeriodIfNone(T0, 60_000);
    const flood = Array.from({ length: 10 }, (_, i) => read(`csr-${i}`, "flooder", 10 + i));
    session.holdForNextPeriod(flood.slice(0, 6), 3);
    session.holdForNextPeriod(flood.slice(6), 3);
    session.holdForNextPeriod([read("csr-other", "quiet")], 3);
    expect(names(session.retriesDue(T0 + 60_000))).toEqual(["csr-7", "csr-8", "csr-9", "csr-other"]);
  });

  it("a decided CSR's event ends its retries and keeps a stale pending copy from being decided", () => {
    const session = newSession(true);
    session.startPeriodIfNone(T0, 60_000);
    const r = read("csr-x", "a");
    session.decided(r, true);
    expect(session.seenDecided("csr-x")).toBe(false);
    session.sawDecided({
      ...r.csr,
      status: { conditions: [{ type: "Approved", status: "True", reason: "Someone" }] },
    });
    expect(session.seenDecided("csr-x")).toBe(true);
    expect(session.retriesDue(T0 + 60_000)).toEqual([]);
  });

  it("admits a requester's CSRs up to its guard across batches of one period; the next period starts afresh", () => {
    const session = newSession(true);
    session.startPeriodIfNone(T0, 60_000);
    const first = session.admit([read("a1", "a", 10), read("a2", "a", 11)], T0, 2);
    expect(names(first.examine)).toEqual(["a1", "a2"]);
    // The third trips the guard (examined, it carries the node-flood alert); the fourth waits.
    const second = session.admit([read("a3", "a", 12), read("a4", "a", 13)], T0 + 1_000, 2);
    expect(names(second.examine)).toEqual(["a3"]);
    expect(second.tripped).toEqual([{ requester: "system:node:a", pending: 4, examined: 2 }]);
    const next = session.admit([read("a5", "a", 14)], T0 + 60_000, 2);
    expect(names(next.examine)).toEqual(["a5"]);
  });

  it("remembers its own writes, so their watch events start no work", () => {
    const session = newSession(true);
    expect(session.isOwnWrite("42")).toBe(false);
    session.wrote("42");
    expect(session.isOwnWrite("42")).toBe(true);
  });
});
