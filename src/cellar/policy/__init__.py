"""The supply-chain gate: which upstream files a mirror refuses, and why (docs/policy.md)."""
