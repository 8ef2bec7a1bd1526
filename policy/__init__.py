"""slipway's policy pack (pulumi-policy, Python): see policy/README.md.

`pulumi preview --policy-pack policy` runs `__main__.py`; the rules themselves are pure
functions in `policy.rules`, tested without Pulumi in tests/policy.
"""
