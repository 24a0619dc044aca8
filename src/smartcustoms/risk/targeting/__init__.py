"""Live declaration targeting: rules, the selectivity policy and engine, the rule and model registry, the API."""
