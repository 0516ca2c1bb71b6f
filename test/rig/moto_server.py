"""Runs moto's server for the test rig until our parent goes away.

- moto_server itself would outlive a crashed test run; this wrapper exits as soon as its
  stdin (a pipe held by the Node parent) reaches EOF, so no moto is ever orphaned.
- EKS DescribeCluster in moto lacks what real EKS returns and the approver needs: the
  cluster's vpcId (derived here from its subnets, as EKS does) and a reachable endpoint and
  CA (taken from the tags rig.test/endpoint and rig.test/certificate-authority-data, so a
  test can point an "EKS cluster" at a rig kube-apiserver). See README.md.
"""
import os
import sys
import threading


def exit_when_parent_gone() -> None:
    # os.read on the raw fd: a buffered sys.stdin read would hold a lock at shutdown.
    try:
        while os.read(0, 4096):
            pass
    finally:
        os._exit(0)


threading.Thread(target=exit_when_parent_gone, daemon=True).start()

# Imported after the watchdog is armed (moto's import takes a while).
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.eks import models as eks_models  # noqa: E402
from moto.server import main  # noqa: E402

ENDPOINT_TAG = "rig.test/endpoint"
CA_TAG = "rig.test/certificate-authority-data"
_original_cluster_init = eks_models.Cluster.__init__


def _cluster_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    _original_cluster_init(self, *args, **kwargs)
    tags = self.tags or {}
    if tags.get(ENDPOINT_TAG):
        self.endpoint = tags[ENDPOINT_TAG]
    if tags.get(CA_TAG):
        self.certificate_authority = {"data": tags[CA_TAG]}
    config = self.resources_vpc_config or {}
    subnets = config.get("subnetIds") or []
    if subnets and "vpcId" not in config:
        account_id = kwargs.get("account_id", args[3] if len(args) > 3 else None)
        region = kwargs.get("region_name", args[4] if len(args) > 4 else None)
        try:
            config["vpcId"] = ec2_backends[account_id][region].get_subnet(subnets[0]).vpc_id
        except Exception:  # unknown subnet: leave it out, as moto would
            pass
        self.resources_vpc_config = config


eks_models.Cluster.__init__ = _cluster_init

main(sys.argv[1:])
