"""Neutron parity calls through openstacksdk (Debian's python3-openstacksdk), as a real client makes them.

Usage: sdk_neutron_parity.py ENDPOINT TOKEN NETWORK_ID
Creates three ports with one native bulk call (conn.network.create_ports), deletes them one by one, and reads
the floating-IP pools with a raw session GET. Prints {"created": [...], "after_delete": [...], "pools": [...]}.
"""

import json
import sys

import openstack


def main() -> None:
    endpoint, token, network_id = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": token},
    )
    ports = conn.network.create_ports(
        [{"network_id": network_id, "name": f"bulk-{i}"} for i in range(3)]
    )
    created = [{"id": p.id, "name": p.name, "fixed_ips": p.fixed_ips} for p in ports]
    for p in created:
        conn.network.delete_port(p["id"], ignore_missing=False)
    after_delete = [p.id for p in conn.network.ports(network_id=network_id)]
    response = conn.network.get("/floatingip_pools")
    response.raise_for_status()
    json.dump(
        {"created": created, "after_delete": after_delete, "pools": response.json()["floatingip_pools"]},
        sys.stdout,
    )


if __name__ == "__main__":
    main()
