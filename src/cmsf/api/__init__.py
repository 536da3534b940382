"""The HTTP API Salesforce Flows call (through an External Service and a Named Credential): `/api/v1/`, JSON in and
out, bearer tokens with scopes and a rate limit each, every call audited. `operations.py` declares each endpoint once
(its path, scope, request and response schemas), and both the request checks and `/api/v1/openapi.json` are built
from it; `tokens.py` makes, finds, limits and revokes the tokens; `views.py` is thin and calls the domain apps."""
