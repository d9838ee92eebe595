"""Pages through every floating IP with openstacksdk (Debian's python3-openstacksdk), as a real client would.

Usage: sdk_page_floating_ips.py ENDPOINT TOKEN LIMIT
Prints {"ids": [...], "addresses": [...]} on stdout.
"""

import json
import sys

import openstack


def main() -> None:
    endpoint, token, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # keystoneauth's admin_token plugin: no Keystone, the token goes in X-Auth-Token to the given endpoint.
    conn = openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": token},
    )
    ids, addresses = [], []
    for fip in conn.network.ips(limit=limit):
        ids.append(fip.id)
        addresses.append(fip.floating_ip_address)
    json.dump({"ids": ids, "addresses": addresses}, sys.stdout)


if __name__ == "__main__":
    main()
