// Event mode: after an EC2 instance enters `running`, keep a watch on every cluster's
// kubelet-serving CSRs for a short window and sweep a cluster as soon as a CSR appears
// there, so a new node is approved seconds after it asks instead of at the next schedule.
import type { ClusterTarget } from "./clusters.js";
import { kubeClient } from "./csrs.js";
import { errorMessage, sweepCluster, type ClusterOutcome, type SweepDeps } from "./sweep.js";

export interface WatchOptions {
  windowMs: number;
  /** Pause between a watch ending early (server close, error) and the next one. */
  reconnectDelayMs?: number;
}

export async function watchClusters(
  targets: ClusterTarget[],
  deps: SweepDeps,
  options: WatchOptions,
): Promise<ClusterOutcome[]> {
  const now = deps.now ?? (() => new Date());
  const outcomes: ClusterOutcome[] = [];
  const window = AbortSignal.timeout(options.windowMs);
  const minRemaining = deps.config.sweep.minRemainingMillis;
  const timeLeft = () => !window.aborted && (!deps.remainingMillis || deps.remainingMillis() > minRemaining);

  await Promise.all(
    targets.map(async (target) => {
      const name = target.facts.name;
      let running: Promise<void> | undefined;
      let again = false;
      // One sweep at a time per cluster; events during a sweep fold into one more sweep.
      const trigger = () => {
        if (running) {
          again = true;
          return;
        }
        running = (async () => {
          do {
            again = false;
            if (!timeLeft()) break;
            outcomes.push(await sweepCluster(target, deps, now));
          } while (again);
          running = undefined;
        })();
      };

      try {
        const token = await target.token();
        const kube = (deps.kube ?? ((e) => kubeClient(e)))({
          name,
          endpoint: target.endpoint,
          token,
          ...(target.caData ? { caData: target.caData } : {}),
        });
        while (timeLeft()) {
          await kube.watchKubeletServingCsrs((type) => {
            if (type === "ADDED" || type === "MODIFIED") trigger();
          }, window);
          if (timeLeft()) await sleep(options.reconnectDelayMs ?? 1000, window);
        }
      } catch (err) {
        deps.log.warn("watch failed: the scheduled sweep will pick this cluster up", {
          cluster: name,
          error: errorMessage(err),
        });
      }
      await running;
    }),
  );
  return outcomes;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
