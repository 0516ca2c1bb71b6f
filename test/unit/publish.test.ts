// Where an alert is published: SNS takes a Publish only at the topic's own regional endpoint,
// and a central topic (docs/organizations.md) may be in another region than the approver.
import { describe, expect, it } from "vitest";
import { topicRegion } from "../../functions/sweep/publish.js";

describe("topicRegion", () => {
  it("reads the region of an SNS topic ARN, in any partition", () => {
    expect(topicRegion("arn:aws:sns:eu-west-1:123456789012:csr-approver-alerts")).toBe("eu-west-1");
    expect(topicRegion("arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts")).toBe("us-gov-west-1");
    expect(topicRegion("arn:aws-cn:sns:cn-north-1:123456789012:alerts")).toBe("cn-north-1");
  });

  it("says nothing for what is not an SNS topic ARN (the caller keeps its own region)", () => {
    for (const value of [
      "",
      "alerts",
      "arn:aws:sqs:eu-west-1:123456789012:queue",
      "arn:aws:sns::123456789012:alerts",
      "arn:aws:sns:eu-west-1:123456789012:alerts:subscription-id",
      "arn:aws:sns:not a region:123456789012:alerts",
      "urn:aws:sns:eu-west-1:123456789012:alerts",
    ]) {
      expect(topicRegion(value), value).toBeUndefined();
    }
  });
});
