"""Runs moto's server for the test rig until our parent goes away.

- moto_server itself would outlive a crashed test run; this wrapper exits as soon as its
  stdin (a pipe held by the Node parent) reaches EOF, so no moto is ever orphaned.
- EKS DescribeCluster in moto lacks what real EKS returns and the approver needs: the
  cluster's vpcId (derived here from its subnets, as EKS does) and a reachable endpoint and
  CA (taken from the tags rig.test/endpoint and rig.test/certificate-authority-data, so a
  test can point an "EKS cluster" at a rig kube-apiserver). See README.md.
- EC2 DescribeInstances in moto lacks the interface-address filters the approver uses to learn
  whether EC2 holds a requested IP (nodes outside EC2): network-interface.addresses.
  private-ip-address, network-interface.addresses.association.public-ip and network-interface.
  ipv6-addresses.ipv6-address. They are added here with EC2's meaning (any address of any
  interface of the instance); moto's own filters are untouched.
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
from moto.ec2 import utils as ec2_utils  # noqa: E402
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


def _nic_private_ips(nic):  # type: ignore[no-untyped-def]
    addresses = [item.get("PrivateIpAddress") for item in (nic.private_ip_addresses or [])]
    return [nic.private_ip_address, *addresses]


def _nic_public_ips(nic):  # type: ignore[no-untyped-def]
    return [nic.public_ip]


def _nic_ipv6(nic):  # type: ignore[no-untyped-def]
    return list(nic.ipv6_addresses or [])


INTERFACE_ADDRESS_FILTERS = {
    "network-interface.addresses.private-ip-address": _nic_private_ips,
    "network-interface.addresses.association.public-ip": _nic_public_ips,
    "network-interface.ipv6-addresses.ipv6-address": _nic_ipv6,
}
_original_passes_filter_dict = ec2_utils.passes_filter_dict


def _passes_filter_dict(instance, filter_dict):  # type: ignore[no-untyped-def]
    rest = {}
    for name, values in filter_dict.items():
        held_by = INTERFACE_ADDRESS_FILTERS.get(name)
        if held_by is None:
            rest[name] = values
            continue
        nics = getattr(instance, "nics", {}) or {}
        held = {str(ip) for nic in nics.values() for ip in held_by(nic) if ip}
        if not held.intersection(values):
            return False
    return _original_passes_filter_dict(instance, rest)


ec2_utils.passes_filter_dict = _passes_filter_dict

main(sys.argv[1:])
