"""The environment's HTTP proxies, read once for a client that does not consult the environment per call.

The Campaign Monitor transport's pool, and a `requests.Session` with `trust_env = False` (which neither lets
REQUESTS_CA_BUNDLE replace its CA bundle nor scans os.environ on every request), take their proxies from here.
"""

from __future__ import annotations

import urllib.request

from requests.utils import should_bypass_proxies


def env_proxies(url: str = "") -> dict[str, str]:
    """The http and https proxies named by the environment (HTTPS_PROXY, ...); none when NO_PROXY exempts `url`."""
    if url and should_bypass_proxies(url, no_proxy=None):
        return {}
    return {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
