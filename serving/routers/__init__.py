"""One router module per serving domain; `serving.app.DOMAIN_ROUTERS` says which name mounts which."""
