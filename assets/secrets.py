"""What messages may say about a URL that carries a secret (a token, a password)."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str, keep_path: bool = False, default_scheme: str = "") -> str:
    """Scheme, host and port only; user info, query and fragment never.

    Webhook URLs carry their token in the path, so the path is dropped (shown
    as `/…`) unless `keep_path` (a database URL's path is the database name,
    which is no secret and tells the operator which database failed).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    scheme = parts.scheme or default_scheme
    if not scheme or not host:
        return "<not a URL>"
    if keep_path:
        return f"{scheme}://{host}{port}{parts.path or '/'}"
    dropped = parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc
    return f"{scheme}://{host}{port}" + ("/…" if dropped else "")
