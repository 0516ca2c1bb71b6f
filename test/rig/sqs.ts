// A few SQS calls over the JSON protocol, signed with SigV4: enough to subscribe a queue to
// the alert topic and read the alerts back. (@aws-sdk/client-sqs is not a dependency.)
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

export interface AwsEndpointConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface SqsMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  Attributes?: Record<string, string>;
}

export class MiniSqs {
  private readonly config: AwsEndpointConfig;
  private readonly signer: SignatureV4;

  constructor(config: AwsEndpointConfig) {
    this.config = config;
    this.signer = new SignatureV4({
      service: "sqs",
      region: config.region,
      credentials: config.credentials,
      sha256: Sha256,
    });
  }

  async call<T>(action: string, input: Record<string, unknown>): Promise<T> {
    const url = new URL(this.config.endpoint);
    const body = JSON.stringify(input);
    const request = new HttpRequest({
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: "/",
      headers: {
        host: url.host,
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": `AmazonSQS.${action}`,
      },
      body,
    });
    const signed = await this.signer.sign(request);
    const response = await fetch(`${this.config.endpoint}/`, {
      method: "POST",
      headers: signed.headers,
      body,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`SQS ${action}: HTTP ${response.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  async createQueue(name: string): Promise<{ queueUrl: string; queueArn: string }> {
    const { QueueUrl } = await this.call<{ QueueUrl: string }>("CreateQueue", { QueueName: name });
    const { Attributes } = await this.call<{ Attributes: Record<string, string> }>("GetQueueAttributes", {
      QueueUrl,
      AttributeNames: ["QueueArn"],
    });
    const queueArn = Attributes.QueueArn;
    if (!queueArn) throw new Error(`SQS: no QueueArn for ${QueueUrl}`);
    return { queueUrl: QueueUrl, queueArn };
  }

  async receive(queueUrl: string, max = 10, waitSeconds = 0): Promise<SqsMessage[]> {
    const { Messages } = await this.call<{ Messages?: SqsMessage[] }>("ReceiveMessage", {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: waitSeconds,
      MessageAttributeNames: ["All"],
    });
    const messages = Messages ?? [];
    for (const message of messages) {
      await this.call("DeleteMessage", { QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle });
    }
    return messages;
  }
}
