// What the harness hands its worker processes (as a JSON file) and what they print back.
// Sweeps run in a fresh process each, like a Lambda container, so their CPU time and peak
// RSS are the sweep's own and not the harness's (which also creates the CSRs).

export interface WorkerJob {
  /** The configuration document (as config.yaml would hold it), parsed by the worker. */
  config: Record<string, unknown>;
  moto: { endpoint: string; region: string };
  topicArn: string;
  account: string;
  /** Sweeps to run one after another in the same process (the first is the measured one). */
  runs: number;
  /**
   * The AWS SDK's per-request timeout (createAwsClients; the product's default is 10 s). Only
   * the fleet-rotation scenario raises it: moto answers a 200-value DescribeInstances filter
   * over 5,000 instances far more slowly than EC2 does (docs/benchmarks.md).
   */
  awsRequestTimeoutMs?: number;
  /** Event mode only: how long watchClusters keeps its watches open. */
  windowMs?: number;
}

export interface KubeCallCounts {
  list: number;
  nodeList: number;
  writes: number;
  reads: number;
  watches: number;
  /** Pages and items the paginated CSR listings returned. */
  listPages: number;
  listItems: number;
  /** Pages asked for again with a smaller limit: over the client's byte bound (large CSRs). */
  listShrunk: number;
}

export interface SweepRunResult {
  /** Killed at the Lambda timeout: only wall, CPU and peak RSS are known (from /proc). */
  timedOut?: boolean;
  wallMs: number;
  cpuMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** process.resourceUsage().maxRSS: the peak over the worker's life so far, in bytes. */
  peakRssBytes: number;
  heapUsedBytes: number;
  /** Per cluster name. */
  kube: Record<string, KubeCallCounts>;
  /** `service:Command` -> logical calls (retries not counted) and HTTP attempts. */
  aws: Record<string, { calls: number; attempts: number }>;
  /** New TCP connections (any), and of those the TLS ones (on the rig: Kubernetes only). */
  connections: { tcp: number; tls: number };
  totals: Record<string, number>;
  clusters: {
    cluster: string;
    status: string;
    error?: string;
    /** CSRs listed (decided included), pending among them, and pending not examined (per-node cap). */
    listed: number;
    pending: number;
    notExamined: number;
    nodeFloods: { node: string; pending: number; examined: number }[];
    approvalLimit?: number;
    floodGuardTripped: boolean;
    /** SNS messages this cluster's sweep published (alerts, summary, flood alerts). */
    alertsSent: number;
    /** Audit: approvals made elsewhere examined, and those left for the next sweep. */
    audited?: number;
    auditDeferred?: number;
    csrs: {
      name: string;
      node?: string;
      requester?: string;
      instanceId?: string;
      action: string;
      decision: string;
      reasons: string[];
      alert?: string;
      /** How its alert went out: alert | repeat | summary. */
      delivery?: string;
      /** Audited: pass | violation | inconclusive. */
      audit?: string;
      error?: string;
    }[];
  }[];
  warnings: string[];
}

export interface SweepWorkerOutput {
  /** Process start to the first sweep's start (module load, config parse, client set-up). */
  initMs: number;
  runs: SweepRunResult[];
}
